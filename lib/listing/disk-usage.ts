// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * DiskUsage: how much of a volume is allocated, in MiB, for the disk columns
 * of qvm-ls (DISK, PRIV-CURR, ROOT-USED, ...).
 *
 * Allocation is read from the image file's block count, not its size,
 * because file pools keep images sparse: the size is the volume's maximum.
 * Only the pool drivers whose images we can find on disk are measured; for
 * others (lvm_thin would need an `lvs` run) the usage is unknown and the
 * cell prints as `-` rather than a guess. The images are found as the
 * drivers lay them out (the running copy first), at the cost of a stat or
 * two per volume; this stays synchronous and loads no driver, for speed.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import fs from 'node:fs';
import type { Qubes } from '../app/app.js';
import path from 'node:path';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';

export const MiB = 1024 * 1024;

/** Configured maximum size of a volume in MiB; 0 when absent or unreadable, as the reference prints. */
export const sizeMiB = (v: VolumeConfig | undefined): number => {
  const s = v ? Number(volumeAttr(v, 'size') ?? 0) : 0;
  return Number.isFinite(s) ? Math.floor(s / MiB) : 0;
};

export class DiskUsage {
  constructor(private readonly app: Qubes) {}

  /** Allocated MiB of a volume; 0 if it has no image yet; undefined where the pool driver is not known here. */
  of(v: VolumeConfig): number | undefined {
    const pool = this.app.pools.get(volumeAttr(v, 'pool') ?? '');
    // kernel volumes are read-only files shared by all qubes: nothing is allocated to the qube
    if (pool?.driver === 'linux-kernel') return 0;
    const dir = pool?.attr('dir_path');
    if (!dir || (pool?.driver !== 'file' && pool?.driver !== 'file-reflink')) return undefined;
    const base = path.resolve(dir, volumeAttr(v, 'vid') ?? '');
    // a vid leaving the pool's directory: where the image is is not known
    if (!base.startsWith(path.resolve(dir) + path.sep)) return undefined;
    const candidates = pool.driver === 'file-reflink' ? [`${base}-dirty.img`, `${base}.img`] : [`${base}.img`];
    let st: fs.Stats | undefined;
    for (const f of candidates) if ((st = fs.statSync(f, { throwIfNoEntry: false }))) break;
    return st ? Math.floor((st.blocks * 512) / MiB) : 0;
  }
}
