// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor as the core library sees it, opened lazily: nothing
 * connects until a command asks for runtime state. Offline mode (installer,
 * chroot, `--offline-mode`) answers "Halted" for every qube but dom0 and
 * refuses everything else with one clear error.
 *
 * This file holds the interface only. Online, the hypervisor is libvirt
 * (libvirt-vmm.ts): one connection per command, made by the first call that
 * needs it; offline, offline-vmm.ts; open-vmm.ts chooses between them.
 *
 * Reference: qubes-core-admin: qubes/app.py VMMConnection;
 * shared/spec/store-and-core-tools.md §4.4, shared/spec/vmm.md.
 */
import type { Features, FeatureSource } from '../vm/features.js';
import type { LibvirtConnection } from './libvirt/connection.js';

export type PowerState = 'Halted' | 'Running' | 'Transient' | 'Paused' | 'Suspended' | 'Halting' | 'Dying' | 'Crashed' | 'NA';

export interface DomainInfo {
  state: PowerState;
  /** -1 when not running. */
  xid: number;
  /** Current memory in MiB, when running. */
  memoryMiB?: number;
  startTime?: string;
}

/** What the library needs to know about a qube to ask the hypervisor. */
export interface VmHandle {
  name: string;
  klass: string;
  /** The domain's UUID in libvirt. */
  uuid?: string;
  /** Whether a running qube is fully usable depends on its `qrexec` feature (with its template's). */
  features?: Features;
  templateVm?(): FeatureSource | null;
}

export interface Vmm {
  readonly offline: boolean;
  readonly uri: string;
  /** Fetch runtime information for these qubes (connects on first use). */
  refresh(vms: VmHandle[]): Promise<void>;
  /** Runtime information from the last refresh (dom0 and offline need none). */
  info(vm: VmHandle): DomainInfo;
  isXen(): boolean;
  /** Host memory in MiB (known after a refresh). */
  hostMemoryMiB(): number;
  /**
   * The libvirt connection shared by this command, connected on its first
   * call. @throws VmmOfflineError in offline mode
   */
  libvirt(): LibvirtConnection;
  /** Close the connection if one was made (a command may also just exit). */
  close(): Promise<void>;
}
