// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * DiskUsage: how much of a volume is allocated, in MiB, for the disk columns
 * of qvm-ls (DISK, PRIV-CURR, ROOT-USED, ...).
 *
 * Allocation is read from the image file's block count, not its size,
 * because file pools keep images sparse: the size is the volume's maximum.
 * Only the pool drivers whose images we can find on disk are measured; for
 * others the usage is unknown and the cell prints as `-` rather than a
 * guess. Pool lookups are cached per listing, so a 1000-qube disk listing
 * resolves each pool once and costs one stat per volume.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';

export const MiB = 1024 * 1024;

/** Configured maximum size of a volume in MiB; 0 when absent or unreadable, as the reference prints. */
export const sizeMiB = (v: VolumeConfig | undefined): number => {
  const s = v ? Number(volumeAttr(v, 'size') ?? 0) : 0;
  return Number.isFinite(s) ? Math.floor(s / MiB) : 0;
};

export class DiskUsage {
  private readonly poolDirs = new Map<string, { driver: string; dir: string | undefined } | null>();
  constructor(private readonly app: Qubes) {}

  /** Allocated MiB of a volume; 0 if it has no image yet; undefined where the pool driver is not known here. */
  of(v: VolumeConfig): number | undefined {
    const poolName = volumeAttr(v, 'pool') ?? '';
    let p = this.poolDirs.get(poolName);
    if (p === undefined) {
      const pool = this.app.pools.get(poolName);
      p = pool ? { driver: pool.driver, dir: pool.attr('dir_path') } : null;
      this.poolDirs.set(poolName, p);
    }
    if (!p) return undefined;
    // kernel volumes are read-only files shared by all qubes: nothing is allocated to the qube
    if (p.driver === 'linux-kernel') return 0;
    if ((p.driver !== 'file' && p.driver !== 'file-reflink') || !p.dir) return undefined;
    const st = fs.statSync(path.join(p.dir, `${volumeAttr(v, 'vid') ?? ''}.img`), { throwIfNoEntry: false });
    return st ? Math.floor((st.blocks * 512) / MiB) : 0;
  }
}
