// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Power states: what a libvirt domain state is as a Qubes power state, and
 * what a power state means for commands.
 *
 * No domain, or an inactive one, is Halted; an active domain maps by
 * state, and a running one is Transient until it is fully usable (its
 * qrexec agent connected, when the qube is expected to have one). A qube
 * "is running" when its domain exists in any live state (paused,
 * suspended, shutting down and dying included), as the reference's
 * is_running() follows libvirt's isActive().
 *
 * Reference: qubes-core-admin qubes/vm/qubesvm.py get_power_state,
 * is_fully_usable, is_running; shared/spec/vmm.md §3.1, libvirt-rpc.md §5.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkWithTemplate, featureIsTrue, type FeatureSource } from '../vm/features.js';
import { DomainState } from './libvirt/constants.js';
import type { PowerState, VmHandle } from './vmm.js';

export const isRunningState = (s: PowerState): boolean => s !== 'Halted' && s !== 'NA';

export function powerState(active: boolean, state: number, fullyUsable: () => boolean): PowerState {
  if (!active) return 'Halted';
  switch (state) {
    case DomainState.Paused:
      return 'Paused';
    case DomainState.Shutdown:
      return 'Halting';
    case DomainState.Shutoff:
      return 'Dying';
    case DomainState.Crashed:
      return 'Crashed';
    case DomainState.PmSuspended:
      return 'Suspended';
    default:
      return fullyUsable() ? 'Running' : 'Transient';
  }
}

/**
 * The core's `domain-is-fully-usable` answer: a qube with the `qrexec`
 * feature (own or its template's) is usable once its qrexec socket exists.
 */
export function fullyUsable(vm: VmHandle, runDir: string): boolean {
  const { features, templateVm } = vm;
  if (!features || !templateVm) return true;
  const source: FeatureSource = { features, templateVm: () => templateVm.call(vm), netvmVm: () => null };
  if (!featureIsTrue(checkWithTemplate(source, 'qrexec'))) return true;
  return fs.existsSync(path.join(runDir, `qrexec.${vm.name}`));
}
