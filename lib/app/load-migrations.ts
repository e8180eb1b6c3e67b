// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The reference's load-time migrations of a store (spec §1.5): the old
 * default_fw_netvm, disposable templates that no longer are, the
 * meminfo-writer service, netvm loops, and PCI ports in their older form.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.load (and the
 * migrations it calls); shared/spec/store-and-core-tools.md §1.5.
 */
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Qubes } from './app.js';

/**
 * What a migration needs from the machine, passed in so that loading does no
 * host I/O (lib/host/load-facts.ts reads it from this machine).
 */
export interface HostFacts {
  /**
   * PCI ports are paths since R4.3: an older BDF id (`01_23.4` behind a
   * bridge) as this machine's path, the port itself when it is a path or
   * cannot be converted (firewall-and-devices.md B3).
   */
  pciPort?(port: string): string;
}

/** Load-time migrations of the reference (spec §1.5). */
export function migrate(app: Qubes, fwNetvm: string | undefined, warnings: string[]): void {
  const vms = app.domains.all();
  const defaultNetvm = app.props.get('default_netvm');
  if (fwNetvm !== undefined && fwNetvm !== defaultNetvm) {
    for (const vm of vms) {
      if (vm.get('provides_network') === true && vm.has('netvm') && vm.isDefault('netvm')) vm.props.set('netvm', fwNetvm);
    }
  }
  const isDispTemplate = (name: string | undefined) => !name || app.domains.get(name)?.isDispvmTemplate() === true;
  for (const p of ['default_dispvm', 'management_dispvm']) {
    if (!isDispTemplate(app.props.get(p))) app.props.set(p, '');
  }
  for (const vm of vms) {
    for (const p of ['default_dispvm', 'management_dispvm']) {
      const v = vm.props.get(p);
      if (v !== undefined && !isDispTemplate(v)) vm.props.set(p, '');
    }
    const mw = vm.features.get('service.meminfo-writer');
    if (mw !== undefined) {
      if (mw === '' && vm.has('maxmem')) vm.props.set('maxmem', '0');
      vm.features.delete('service.meminfo-writer');
    }
  }
  breakNetvmLoops(app.domains.sorted(), warnings);
}

/**
 * Break netvm cycles as the reference does: a qube that is itself on a cycle
 * (its chain comes back to it) gets netvm none; qubes that merely lead into
 * a cycle keep theirs, and reach the end of the chain once the cycle is
 * broken. Qubes are visited by name; qubes known to reach the end of their
 * chain are remembered, so the many sharing one chain are walked once.
 */
function breakNetvmLoops(vms: QubesVM[], warnings: string[]): void {
  const terminates = new Set<QubesVM>();
  for (const vm of vms) {
    if (!vm.has('netvm')) continue;
    const path = new Set<QubesVM>([vm]);
    let cur = vm.netvmVm();
    while (cur && !terminates.has(cur) && !path.has(cur)) {
      path.add(cur);
      cur = cur.netvmVm();
    }
    if (cur === vm) {
      warnings.push(`${vm.name}: netvm loop found, setting netvm to none`);
      vm.props.set('netvm', '');
      terminates.add(vm);
    } else if (!cur || terminates.has(cur)) {
      for (const p of path) terminates.add(p);
    } // else: vm leads into a cycle of others, broken on their turn
  }
}
