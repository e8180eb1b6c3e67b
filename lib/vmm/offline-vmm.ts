// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor in offline mode (installer, chroot, `--offline-mode`):
 * every qube but dom0 and remote qubes reads as Halted, and whatever needs
 * the hypervisor is refused with one clear error.
 *
 * Reference: qubes-core-admin: qubes/app.py VMMConnection (offline_mode).
 */
import { VmmOfflineError } from '../errors.js';
import { fixedInfo } from './fixed-state.js';
import type { LibvirtConnection } from './libvirt/connection.js';
import type { DomainInfo, Vmm, VmHandle } from './vmm.js';

const HALTED: DomainInfo = { state: 'Halted', xid: -1 };

export class OfflineVmm implements Vmm {
  readonly offline = true;
  readonly uri = '';
  async refresh(): Promise<void> {}
  info(vm: VmHandle): DomainInfo {
    return fixedInfo(vm) ?? HALTED;
  }
  isXen(): boolean {
    throw new VmmOfflineError();
  }
  hostMemoryMiB(): number {
    throw new VmmOfflineError();
  }
  libvirt(): LibvirtConnection {
    throw new VmmOfflineError();
  }
  async close(): Promise<void> {}
}
