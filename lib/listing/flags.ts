// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * flags: the eight-character FLAGS column of qvm-ls (type, power state and
 * six yes/no properties), one character each so the column stays narrow
 * and can be grepped by position.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import { featureTrue, prop, type Row } from './row.js';

const TYPE_FLAG: Record<string, string> = { AdminVM: '0', AppVM: 'a', DispVM: 'd', StandaloneVM: 's', TemplateVM: 't' };
const POWER_FLAG: Record<string, string> = {
  Running: 'r', Transient: 't', Paused: 'p', Suspended: 's', Halting: 'h', Dying: 'd', Crashed: 'c', Unknown: '?',
};

export function flags(r: Row): string {
  const vm = r.vm;
  let t = TYPE_FLAG[vm.klass] ?? '-';
  // upper case marks HVM, as the reference does, instead of a ninth flag
  if (prop(vm, 'virt_mode') === 'hvm') t = t.toUpperCase();
  const yes = (p: string, c: string) => (prop(vm, p) === true ? c : '-');
  return (
    t +
    (POWER_FLAG[r.info.state] ?? '-') +
    yes('updateable', 'U') +
    yes('provides_network', 'N') +
    yes('installed_by_rpm', 'R') +
    (featureTrue(vm, 'internal') ? 'i' : '-') +
    yes('debug', 'D') +
    yes('autostart', 'A')
  );
}
