// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor as the core library sees it, opened lazily: nothing
 * connects until a command asks for runtime state. Offline mode (installer,
 * chroot, `--offline-mode`) answers "Halted" for every qube but dom0 and
 * refuses everything else with one clear error.
 *
 * The libvirt and QubesDB clients arrive with the VMM subsystem; until then
 * the online implementation reports that it cannot connect, naming the URI
 * and the way out (`--offline-mode`).
 *
 * Reference: qubes-core-admin: qubes/app.py VMMConnection;
 * shared/spec/store-and-core-tools.md §4.4, shared/spec/vmm.md.
 */
import fs from 'node:fs';
import { DEFAULT_LIBVIRT_URI } from '../config.js';
import { VmmError, VmmOfflineError } from '../errors.js';

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
  uuid?: string;
}

export interface Vmm {
  readonly offline: boolean;
  readonly uri: string;
  /** Fetch runtime information for these qubes (connects on first use). */
  refresh(vms: VmHandle[]): Promise<void>;
  /** Runtime information from the last refresh (dom0 and offline need none). */
  info(vm: VmHandle): DomainInfo;
  isXen(): boolean;
  /** Host memory in MiB. */
  hostMemoryMiB(): number;
}

const DOM0: DomainInfo = { state: 'Running', xid: 0 };
const HALTED: DomainInfo = { state: 'Halted', xid: -1 };

export class OfflineVmm implements Vmm {
  readonly offline = true;
  readonly uri = '';
  async refresh(): Promise<void> {}
  info(vm: VmHandle): DomainInfo {
    return vm.klass === 'AdminVM' ? DOM0 : HALTED;
  }
  isXen(): boolean {
    throw new VmmOfflineError();
  }
  hostMemoryMiB(): number {
    throw new VmmOfflineError();
  }
}

/** Connects on the first call that needs the hypervisor, never before. */
export class LazyVmm implements Vmm {
  readonly offline = false;
  private readonly cache = new Map<string, DomainInfo>();
  constructor(readonly uri: string) {}

  async refresh(vms: VmHandle[]): Promise<void> {
    if (vms.every((vm) => vm.klass === 'AdminVM')) return;
    throw new VmmError(
      `Cannot connect to the hypervisor at ${this.uri}: this build has no libvirt client yet; use --offline-mode`,
    );
  }
  info(vm: VmHandle): DomainInfo {
    if (vm.klass === 'AdminVM') return DOM0;
    const i = this.cache.get(vm.name);
    if (!i) throw new VmmError(`Runtime state of ${vm.name} was not fetched from ${this.uri}`);
    return i;
  }
  isXen(): boolean {
    return this.uri.startsWith('xen');
  }
  hostMemoryMiB(): number {
    throw new VmmError(`Cannot ask ${this.uri} for host memory: this build has no libvirt client yet`);
  }
}

/**
 * Offline when asked (`--offline-mode`, QUBES_OFFLINE_MODE=1) or when running
 * as root inside a chroot (root directory differs from /proc/1/root; issue
 * #2412). A missing /proc also means a chroot (a running dom0 always has
 * it); where /proc/1/root exists but cannot be inspected (containers deny
 * it) we assume no chroot.
 */
export function offlineRequested(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag) return true;
  const e = env.QUBES_OFFLINE_MODE;
  if (e !== undefined && e !== '' && e !== '0') return true;
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

export function makeVmm(offline: boolean, env: NodeJS.ProcessEnv = process.env): Vmm {
  return offline ? new OfflineVmm() : new LazyVmm(env.LIBVIRT_DEFAULT_URI || DEFAULT_LIBVIRT_URI);
}
