// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qubes whose power state the hypervisor is not asked about: dom0 (always
 * running, domain 0) and remote qubes (they run on another machine; the
 * reference reports them Running). Both VMM implementations answer for
 * them from here.
 *
 * Reference: qubes-core-admin: qubes/vm/adminvm.py, qubes/vm/remotevm.py.
 */
import { runsHere } from '../vm/vm-properties.js';
import type { DomainInfo, Vmm, VmHandle } from './vmm.js';

const DOM0: DomainInfo = { state: 'Running', xid: 0 };
const REMOTE: DomainInfo = { state: 'Running', xid: -1, memoryMiB: 0 };
const UNKNOWN: DomainInfo = { state: 'NA', xid: -1 };

/** Whether the hypervisor knows this qube's state. */
export const askHypervisor = (vm: VmHandle): boolean => runsHere(vm.klass);

/** The state of a qube the hypervisor is not asked about; undefined for the others. */
export const fixedInfo = (vm: VmHandle): DomainInfo | undefined => (vm.klass === 'RemoteVM' ? REMOTE : vm.klass === 'AdminVM' ? DOM0 : undefined);

/** Runtime information when the hypervisor could not be asked: NA for every qube but dom0 and remote qubes. */
export const unknownStates = (vmm: Vmm): Pick<Vmm, 'info'> => ({
  info: (vm) => (askHypervisor(vm) ? UNKNOWN : vmm.info(vm)),
});
