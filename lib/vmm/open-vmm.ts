// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor of one command: whether it runs offline, and the Vmm it
 * gets (not connected yet: libvirt-vmm.ts connects on first use).
 *
 * Reference: qubes-core-admin: qubes/app.py VMMConnection, Qubes.__init__
 * (offline_mode); shared/spec/store-and-core-tools.md §4.4.
 */
import fs from 'node:fs';
import { libvirtUri, offlineModeVar, runDir, type Env } from '../config.js';
import { LibvirtVmm } from './libvirt-vmm.js';
import { OfflineVmm } from './offline-vmm.js';
import type { Vmm } from './vmm.js';

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
