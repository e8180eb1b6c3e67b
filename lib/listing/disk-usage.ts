// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * DiskUsage: how much of a volume is allocated, in MiB, for the disk columns
 * of qvm-ls (DISK, PRIV-CURR, ROOT-USED, ...).
 *
 * Allocation is read from the image file's block count, not its size,
 * because file pools keep images sparse: the size is the volume's maximum.
 * Only the pool drivers whose images we can find on disk are measured; for
 * others the usage is unknown and the cell prints as `-` rather than a
 * guess. The image is found as the storage code finds it (imagePath), at
 * the cost of one stat per volume.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import fs from 'node:fs';
import type { Qubes } from '../app/app.js';
import { QubesError } from '../errors.js';
import { imagePath, isFilePool } from '../storage/file-images.js';
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
    if (!isFilePool(pool)) return undefined;
    let file: string;
    try {
      file = imagePath(pool, volumeAttr(v, 'vid') ?? '');
    } catch (e) {
      // no dir_path, or a vid leaving it: where the image is is not known
      if (e instanceof QubesError) return undefined;
      throw e;
    }
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return st ? Math.floor((st.blocks * 512) / MiB) : 0;
  }
}
