// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-check: whether qubes exist, and (with filters, ANDed) whether they
 * are running, paused, templates or networked. Exit 0 when every named
 * qube passes, 3 when some do, 1 when none does or a name is unknown.
 * Messages go to stderr as `qvm-check: ...` (the reference logs them);
 * `-q` silences them.
 * Reference: qubesadmin/tools/qvm_check.py; spec vmm.md §6.2.
 */
import { QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { isRunningState } from '../vmm/power-state.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVms, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-check',
  summary: 'check whether qubes exist and are in a given state',
  args: VM_ARGS,
  options: [
    ...SELECTION_OPTIONS,
    { flags: '--running', description: 'the qubes are running (paused counts as running)' },
    { flags: '--paused', description: 'the qubes are paused' },
    { flags: '--template', description: 'the qubes are templates' },
    { flags: '--networked', description: 'the qubes provide network or have a net qube' },
  ],
};

interface Opts extends SelectionOpts {
  running?: boolean;
  paused?: boolean;
  template?: boolean;
  networked?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  if (!opts.all && args.length === 0) throw new UsageError('one of the arguments VMNAME or --all is required');
  const app = ctx.store().read();
  // unknown names are collected and reported, not fatal (the reference's parser does so)
  const unknown: string[] = [];
  const domains: QubesVM[] = [];
  for (const name of opts.all ? [] : args) {
    try {
      for (const vm of resolveVms(app, { names: [name] })) if (!domains.includes(vm)) domains.push(vm);
    } catch (e) {
      if (!(e instanceof QubesVMNotFoundError)) throw e;
      unknown.push(name);
    }
  }
  if (opts.all) domains.push(...resolveVms(app, { names: [], all: true, exclude: opts.exclude }));
  unknown.sort();

  const filters: { status: string; check: (vm: QubesVM) => boolean }[] = [];
  if (opts.running || opts.paused) await app.vmm.refresh(domains);
  if (opts.running) filters.push({ status: 'running', check: (vm) => isRunningState(app.vmm.info(vm).state) });
  if (opts.paused) filters.push({ status: 'paused', check: (vm) => app.vmm.info(vm).state === 'Paused' });
  if (opts.template) filters.push({ status: 'template', check: (vm) => vm.klass === 'TemplateVM' });
  if (opts.networked) filters.push({ status: 'networked', check: (vm) => (vm.has('provides_network') && vm.get('provides_network') === true) || Boolean(vm.has('netvm') && vm.get('netvm')) });

  const say = (line: string) => {
    if (ctx.verbose >= 0) ctx.err(`qvm-check: ${line}\n`);
  };
  let code = 0;
  const report = (vms: QubesVM[], status: string[]) => {
    if (vms.length === 0) say(`None of qubes: ${status.join(', ')}`);
    for (const vm of [...vms].sort((a, b) => (a.name < b.name ? -1 : 1))) say(`${vm.name}: ${status.join(', ')}`);
  };
  if (filters.length) {
    const passing = domains.filter((vm) => filters.every((f) => f.check(vm)));
    if (passing.length !== domains.length) code = passing.length === 0 ? 1 : 3;
    report(passing, filters.map((f) => f.status));
  } else if (domains.length === 0) code = 1;
  else report(domains, ['exists']);
  if (unknown.length) {
    for (const n of unknown) say(`${n}: non-existent!`);
    code = 1;
  }
  return code;
}
