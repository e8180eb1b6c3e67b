// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What dom0 exposes as block devices, decided from sysfs as the reference's
 * udev script decides it in every backend, and written in the same shape
 * the script writes into QubesDB (`/qubes-block-devices/NAME/{desc,size,
 * mode,parent}`), so dom0's devices and other backends' go through one
 * parser (block.ts).
 *
 * Reference: qubes-linux-utils: udev/udev-qubes-block.rules,
 * udev-block-add-change; shared/spec/firewall-and-devices.md B3, B7.
 * [quirk] Loop partitions (`loop0p1`) have no `loop/` directory: they are
 * described by udev's model and label (usually empty, `" ()"`), and the
 * `.qubes-exclude-block-devices` check does not reach them; kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { blockDevNumber, isDir, listDir, readAttr, splitDevT, udevProperties, type DevNumber, type HostRoots } from '../host/sysfs.js';

export const BLOCK_QDB_PREFIX = '/qubes-block-devices/';

interface BlockNode {
  name: string;
  /** The device's directory in sysfs. */
  dir: string;
  num: DevNumber | undefined;
  /** Parent disk of a partition. */
  parent?: BlockNode;
  partitions: BlockNode[];
}

const hex = (n: DevNumber) => `${n.major.toString(16)}:${n.minor.toString(16)}`;

/** Devices attached to a qube through blkback (xen vbd `physical_device`, hex major:minor). */
function attachedNumbers(roots: HostRoots): Set<string> {
  const dir = path.join(roots.sys, 'bus', 'xen-backend', 'drivers', 'vbd');
  const out = new Set<string>();
  for (const e of listDir(dir)) {
    if (!e.startsWith('vbd-')) continue;
    const v = readAttr(path.join(dir, e, 'physical_device'));
    if (v) out.add(v.trim());
  }
  return out;
}

/** Mounted file systems and active swap, by major:minor. */
function inUseNumbers(roots: HostRoots): Set<string> {
  const out = new Set<string>();
  for (const line of (readAttr(path.join(roots.proc, 'self', 'mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    if (f[2]) {
      const [ma, mi] = f[2].split(':');
      out.add(`${Number(ma).toString(16)}:${Number(mi).toString(16)}`);
    }
  }
  for (const line of (readAttr(path.join(roots.proc, 'swaps')) ?? '').split('\n').slice(1)) {
    const file = line.split(/\s+/)[0];
    if (!file) continue;
    try {
      const st = fs.statSync(file, { bigint: true });
      if (st.isBlockDevice()) out.add(hex(splitDevT(st.rdev)));
    } catch {
      // swap file or vanished device
    }
  }
  return out;
}

function blockTree(roots: HostRoots): BlockNode[] {
  const base = path.join(roots.sys, 'block');
  return listDir(base).map((name) => {
    const dir = path.join(base, name);
    const disk: BlockNode = { name, dir, num: blockDevNumber(roots, name, dir), partitions: [] };
    for (const sub of listDir(dir)) {
      const pdir = path.join(dir, sub);
      if (sub.startsWith(name) && fs.existsSync(path.join(pdir, 'partition')))
        disk.partitions.push({ name: sub, dir: pdir, num: blockDevNumber(roots, sub, pdir), parent: disk, partitions: [] });
    }
    return disk;
  });
}

/** Backing file's directories up to / hold `.qubes-exclude-block-devices`? */
function excludedBackingFile(file: string): boolean {
  let dir = path.dirname(file);
  while (dir !== '/' && dir !== '.') {
    if (fs.existsSync(path.join(dir, '.qubes-exclude-block-devices'))) return true;
    dir = path.dirname(dir);
  }
  return false;
}

/** The USB interface before `/host` in the device's real sysfs path (`1-1:1.0`). */
function usbParent(dir: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return undefined;
  }
  const parts = real.split('/');
  const host = parts.findIndex((p) => /^host\d+$/.test(p));
  const iface = host > 0 ? parts[host - 1] : undefined;
  return iface && /^\d+-[\d.]+:\d+\.\d+$/.test(iface) ? iface : undefined;
}

/** QubesDB entries dom0 would publish for its block devices. */
export function exportBlockDevices(roots: HostRoots): Map<string, string> {
  const attached = attachedNumbers(roots);
  const inUse = inUseNumbers(roots);
  const isAttached = (n: BlockNode) => n.num !== undefined && attached.has(hex(n.num));
  const isUsed = (n: BlockNode) =>
    (n.num !== undefined && inUse.has(hex(n.num))) || listDir(path.join(n.dir, 'holders')).length > 0;
  const entries = new Map<string, string>();

  const consider = (n: BlockNode): void => {
    const major = n.num?.major;
    const udev = udevProperties(roots, n.num);
    if (major === 202 || n.name.startsWith('zram') || udev.get('UDISKS_IGNORE') === '1') return;
    if (n.name.startsWith('dm-')) {
      const dmName = readAttr(path.join(n.dir, 'dm', 'name')) ?? '';
      if (!dmName || /^(snapshot|origin)-/.test(dmName)) return;
    }
    if (!udev.get('QUBES_EXPORT_BLOCK_DEVICE') && udev.get('DM_UDEV_DISABLE_DISK_RULES_FLAG') === '1') return;
    if (n.parent && isAttached(n.parent)) return;
    if (isUsed(n)) return;
    if (n.partitions.some((p) => isUsed(p) || isAttached(p))) return;
    if (major === 7 && !isDir(path.join(n.dir, 'loop'))) return;
    if (major === 43 && !fs.existsSync(path.join(n.dir, 'pid'))) return;
    if (n.name.startsWith('loop')) {
      // the reference looks under /sys/block/NAME, which a partition is not
      const backing = readAttr(path.join(roots.sys, 'block', n.name, 'loop', 'backing_file'));
      if (backing && excludedBackingFile(backing)) return;
    }
    let mode = readAttr(path.join(n.dir, 'ro'))?.trim() === '1' ? 'r' : 'w';
    const size = Number(readAttr(path.join(n.dir, 'size')) ?? '0') * 512;
    const isCd = udev.get('ID_TYPE') === 'cd' || (udev.size === 0 && /^sr\d+$/.test(n.name));
    if (isCd) {
      if (udev.get('ID_CDROM_MEDIA') !== '1' && !(udev.size === 0 && size > 0)) return;
      mode = 'r';
    }
    let desc = `${udev.get('ID_MODEL') ?? ''} (${udev.get('ID_FS_LABEL') ?? ''})`;
    if (isDir(path.join(n.dir, 'loop'))) desc = readAttr(path.join(n.dir, 'loop', 'backing_file')) ?? '';
    const dmName = readAttr(path.join(n.dir, 'dm', 'name'));
    if (dmName) desc = dmName;
    const key = `${BLOCK_QDB_PREFIX}${n.name}`;
    entries.set(`${key}/desc`, toAscii(desc));
    entries.set(`${key}/size`, String(size));
    entries.set(`${key}/mode`, mode);
    const parent = n.parent?.name ?? usbParent(n.dir);
    if (parent) entries.set(`${key}/parent`, parent);
  };

  for (const disk of blockTree(roots)) {
    consider(disk);
    for (const p of disk.partitions) consider(p);
  }
  return entries;
}

/** `iconv -t ascii//TRANSLIT`, roughly: strip accents, `?` for the rest. */
function toAscii(s: string): string {
  return s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x00-\x7f]/g, '?');
}
