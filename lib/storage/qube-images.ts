// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The file-pool images of one qube: planning what a new qube needs on disk
 * (empty sparse images, or copies of a source qube's data), making them,
 * removing them again, and importing a file over the root image. Volumes
 * in pools of other drivers are only recorded; the plan carries a warning.
 *
 * Reference: qubes-core-admin: qubes/storage/file.py (FileVolume.create,
 * import_volume); shared/spec/store-and-core-tools.md §4.3, §10.
 */
import fs from 'node:fs';
import type { Pool, Qubes } from '../app/app.js';
import { QubesError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeAttr } from '../vm/volume-config.js';
import { copyImage, createSparseImage, imageDirs, imagePath, importImage, isFilePool, removeDirs, viewVolume } from './file-images.js';

/** Disk work for a new qube: sparse images made under the lock, copies made after it. */
export interface StoragePlan {
  create: { file: string; size: number }[];
  copy: { volume: string; src: string; dst: string; size: number }[];
  /** Image directories that did not exist before (removed on rollback). */
  newDirs: string[];
  warnings: string[];
}

const STORAGE_LATER = 'comes with the storage subsystem; only the volume configuration was recorded';

const driverOf = (v: { pool: Pool | undefined }): string => v.pool?.driver ?? 'unknown';

/**
 * What to do on disk for `vm`'s persistent volumes. Volumes named in
 * `copyFrom` get the data of the same-named volume of the source qube
 * (a snapshot volume's data is its origin's image).
 */
export function planStorage(app: Qubes, vm: QubesVM, copyFrom?: { src: QubesVM; volumes: string[] }): StoragePlan {
  const plan: StoragePlan = { create: [], copy: [], newDirs: [], warnings: [] };
  for (const cfg of vm.volumeConfig) {
    const v = viewVolume(app.pools, cfg);
    if (!v.saveOnStop) continue;
    if (!isFilePool(v.pool)) {
      plan.warnings.push(`volume ${v.name} of ${vm.name}: image creation for pool ${v.poolName} (driver ${driverOf(v)}) ${STORAGE_LATER}`);
      continue;
    }
    const dst = imagePath(v.pool, v.vid);
    const srcCfg = copyFrom?.volumes.includes(v.name)
      ? copyFrom.src.volumeConfig.find((c) => volumeAttr(c, 'name') === v.name)
      : undefined;
    if (!srcCfg) {
      plan.create.push({ file: dst, size: v.size });
      continue;
    }
    const s = viewVolume(app.pools, srcCfg);
    if (!isFilePool(s.pool))
      throw new QubesError(`Copying volume ${v.name} from pool ${s.poolName} (driver ${driverOf(s)}) ${STORAGE_LATER.split(';')[0]}`);
    const srcVid = s.snapOnStart && s.source ? s.source : s.vid;
    const src = imagePath(s.pool, srcVid);
    if (!fs.existsSync(src)) throw new QubesError(`Image of volume ${v.name} of ${copyFrom?.src.name} not found: ${src}`);
    plan.copy.push({ volume: v.name, src, dst, size: v.size });
  }
  for (const d of imageDirs(app.pools, vm.name, vm.volumeConfig)) if (!fs.existsSync(d)) plan.newDirs.push(d);
  return plan;
}

/** Remove the images in `made` and the directories the plan created. */
export function rollbackImages(plan: StoragePlan, made: string[]): void {
  for (const f of made) fs.rmSync(f, { force: true });
  removeDirs(plan.newDirs);
}

/**
 * Make the sparse images, adding each to `made`; on failure remove what was
 * made (and empty `made`, so a caller's own rollback finds nothing twice) and rethrow.
 */
export function createImages(plan: StoragePlan, made: string[]): void {
  try {
    for (const c of plan.create) {
      createSparseImage(c.file, c.size);
      made.push(c.file);
    }
  } catch (e) {
    rollbackImages(plan, made);
    made.length = 0;
    throw e;
  }
}

/**
 * Copy the source data into the new images, adding each finished copy to
 * `made`. No rollback here: the caller must also drop the qube's record,
 * which takes the store lock.
 */
export function copyImages(plan: StoragePlan, made: string[]): void {
  for (const c of plan.copy) {
    copyImage(c.src, c.dst, c.size);
    made.push(c.dst);
  }
}

/**
 * Replace the data of `vm`'s root image with `file` (qvm-create -r/-R).
 * Returns the new size when the file is larger than the volume (the caller
 * records it), else undefined.
 */
export function importRootImage(app: Qubes, vm: QubesVM, file: string, move: boolean): number | undefined {
  const cfg = vm.volumeConfig.find((c) => volumeAttr(c, 'name') === 'root');
  if (!cfg) throw new QubesError(`${vm.name} has no root volume`);
  const v = viewVolume(app.pools, cfg);
  if (!v.saveOnStop) throw new QubesError(`The root volume of ${vm.name} is not persistent`);
  if (!isFilePool(v.pool)) throw new QubesError(`Importing into pool ${v.poolName} (driver ${driverOf(v)}) comes with the storage subsystem`);
  const size = importImage(file, imagePath(v.pool, v.vid), v.size, move);
  return size > v.size ? size : undefined;
}
