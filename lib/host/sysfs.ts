// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Reading dom0's own hardware: sysfs and device nodes. Both roots can be
 * moved (`QUBES_SYSFS_ROOT`, `QUBES_DEV_DIR`; lib/config.ts hostRoots) so tests can point at a
 * sample tree they build; by default they are /sys and /dev.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HostRoots } from '../config.js';

/** Where sysfs, /dev, udev's database (/run/udev/data) and /proc are: lib/config.ts resolves them. */
export type { HostRoots };

/** A sysfs attribute without its trailing newline, or undefined when absent or unreadable. */
export function readAttr(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export const isDir = (p: string): boolean => {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
};

export interface DevNumber {
  major: number;
  minor: number;
}

/** Linux dev_t → major:minor (the kernel's new encoding, valid for minors ≥ 256). */
export function splitDevT(rdev: number | bigint): DevNumber {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * major:minor of a block device: from its node in /dev (as the reference's
 * udev script does with `stat`), else from sysfs `dev` when there is no node.
 */
export function blockDevNumber(roots: HostRoots, name: string, sysDir: string): DevNumber | undefined {
  try {
    const st = fs.statSync(path.join(roots.dev, name.replace(/_/g, '/')), { bigint: true });
    if (st.isBlockDevice()) return splitDevT(st.rdev);
  } catch {
    // no node: fall back to sysfs
  }
  const m = /^(\d+):(\d+)$/.exec(readAttr(path.join(sysDir, 'dev')) ?? '');
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** udev's properties of a device (`E:KEY=VALUE` lines of /run/udev/data/bMAJ:MIN). */
export function udevProperties(roots: HostRoots, n: DevNumber | undefined): Map<string, string> {
  const props = new Map<string, string>();
  if (!n) return props;
  for (const line of (readAttr(path.join(roots.udev, `b${n.major}:${n.minor}`)) ?? '').split('\n')) {
    const m = /^E:([^=]+)=(.*)$/.exec(line);
    if (m) props.set(m[1] as string, m[2] as string);
  }
  return props;
}
