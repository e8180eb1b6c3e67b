// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the system holds: admin.vmclass.List, admin.deviceclass.List,
 * admin.vm.List (every qube when the destination is dom0, else that one:
 * `NAME class=CLASS state=STATE uuid=UUID` per line, by name, dom0 first),
 * admin.vm.CurrentState, admin.Events (the event stream: see events.ts)
 * and admin.vm.Stats (the stats stream: see stats.ts).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vmclass_list,
 * deviceclass_list, vm_list, vm_current_state, vm_stats).
 */
import { DEVICE_CLASSES } from '../../devices/model.js';
import { VmmError } from '../../errors.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { VM_CLASSES } from '../../vm/vm-properties.js';
import { unknownStates } from '../../vmm/fixed-state.js';
import type { Vmm } from '../../vmm/vmm.js';
import { method, type MethodDecl } from '../method.js';
import { eventsHandler } from './events.js';
import { statsHandler } from './stats.js';

/** The hypervisor's answer for these qubes; unreachable, every qube it would have to tell reads NA. */
async function statesOf(vmm: Vmm, vms: QubesVM[]): Promise<Pick<Vmm, 'info'>> {
  if (vmm.offline) return vmm;
  try {
    await vmm.refresh(vms);
    return vmm;
  } catch (e) {
    if (!(e instanceof VmmError)) throw e;
    return unknownStates(vmm);
  }
}

/** dom0 first (qid 0 sorts first in the reference's VM ordering), then by name. */
const byName = (vms: QubesVM[]) => [...vms].sort((a, b) => (a.qid === 0 ? -1 : b.qid === 0 ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const global = { scope: 'global', wantsArg: false, wantsPayload: false } as const;

export const SYSTEM_METHODS: MethodDecl[] = [
  method('admin.vmclass.List', { ...global, destAdminvm: true }, () => VM_CLASSES.map((c) => `${c}\n`).join('')),
  method('admin.deviceclass.List', { ...global, destAdminvm: true }, () => DEVICE_CLASSES.map((c) => `${c}\n`).join('')),
  method('admin.vm.List', { ...global, destAdminvm: null }, async (call) => {
    const vms = byName(call.dest.klass === 'AdminVM' ? call.app.domains.all() : [call.dest]);
    const states = await statesOf(call.app.vmm, vms);
    return vms.map((vm) => `${vm.name} class=${vm.klass} state=${states.info(vm).state} uuid=${vm.uuid}\n`).join('');
  }),
  method('admin.vm.CurrentState', { scope: 'local', destAdminvm: null, wantsArg: false, wantsPayload: false }, async (call) => {
    const info = (await statesOf(call.app.vmm, [call.dest])).info(call.dest);
    const running = info.state !== 'Halted' && info.state !== 'NA';
    const mem = running && info.memoryMiB !== undefined ? info.memoryMiB * 1024 : 0;
    const maxmem = call.dest.has('maxmem') ? call.dest.get('maxmem') : undefined;
    const memStaticMax = running && typeof maxmem === 'number' ? maxmem * 1024 : 0;
    // CPU time is not in what the hypervisor layer fetches (one all-domain
    // stats call): 0, as the reference answers for a qube that is not running.
    return `mem=${mem} mem_static_max=${memStaticMax} cputime=0 power_state=${info.state}`;
  }),
  method('admin.Events', { ...global, destAdminvm: null }, eventsHandler),
  method('admin.vm.Stats', { ...global, destAdminvm: null }, statsHandler),
];
