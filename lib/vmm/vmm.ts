// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor as the core library sees it, opened lazily: nothing
 * connects until a command asks for runtime state. Offline mode (installer,
 * chroot, `--offline-mode`) answers "Halted" for every qube but dom0 and
 * refuses everything else with one clear error.
 *
 * Online, the hypervisor is libvirt (libvirt-vmm.ts): one connection per
 * command, made by the first call that needs it.
 *
 * Reference: qubes-core-admin: qubes/app.py VMMConnection;
 * shared/spec/store-and-core-tools.md §4.4, shared/spec/vmm.md.
 */
import fs from 'node:fs';
import { libvirtUri, offlineModeVar, runDir, type Env } from '../config.js';
import { VmmOfflineError } from '../errors.js';
import type { Features, FeatureSource } from '../vm/features.js';
import type { LibvirtConnection } from './libvirt/connection.js';
import { askHypervisor, fixedInfo } from './fixed-state.js';
import { LibvirtVmm } from './libvirt-vmm.js';

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

const HALTED: DomainInfo = { state: 'Halted', xid: -1 };
const UNKNOWN: DomainInfo = { state: 'NA', xid: -1 };
/** Runtime information when the hypervisor could not be asked: NA for every qube but dom0 and remote qubes. */
export const unknownStates = (vmm: Vmm): Pick<Vmm, 'info'> => ({
  info: (vm) => (askHypervisor(vm) ? UNKNOWN : vmm.info(vm)),
});

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

/**
 * Offline when asked (`--offline-mode`, QUBES_OFFLINE_MODE=1) or when running
 * as root inside a chroot (root directory differs from /proc/1/root; issue
 * #2412). A missing /proc also means a chroot (a running dom0 always has
 * it); where /proc/1/root exists but cannot be inspected (containers deny
 * it) we assume no chroot.
 */
export function offlineRequested(flag: boolean | undefined, env: Env): boolean {
  if (flag || offlineModeVar(env)) return true;
  return inChroot();
}

function inChroot(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    const a = fs.statSync('/');
    const b = fs.statSync('/proc/1/root/');
    return a.dev !== b.dev || a.ino !== b.ino;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync('/proc/self');
  }
}

/** The VMM of a command: offline, or libvirt at `LIBVIRT_DEFAULT_URI` (not connected yet). */
export function makeVmm(offline: boolean, env: Env): Vmm {
  if (offline) return new OfflineVmm();
  return new LibvirtVmm(libvirtUri(env), runDir(env), env);
}
