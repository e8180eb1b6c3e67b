// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The little the dom0 tools need from `file` / `file-reflink` pools until
 * the storage subsystem arrives: where a volume's image lives
 * (`<dir_path>/<vid>.img`), creating a sparse image, copying one (reflink
 * when the filesystem can, else a copy that keeps holes), importing a file
 * over an image, and removing a qube's image directory.
 *
 * Volumes in pools of other drivers (lvm_thin, zfs, ...) are only recorded
 * in the volume-config; callers warn about it.
 *
 * Reference: qubes-core-admin: qubes/storage/file.py (FilePool.create,
 * import_volume, remove), qubes/storage/reflink.py;
 * shared/spec/store-and-core-tools.md §1.3, §4.3.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../app/app.js';
import { QubesError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';

const FILE_DRIVERS: readonly string[] = ['file', 'file-reflink'];

export const isFilePool = (pool: Pool | undefined): pool is Pool => pool !== undefined && FILE_DRIVERS.includes(pool.driver);

/** Whether the path stays inside `dir` (vids come from the store; never trust them to stay put). */
function inside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * `<dir_path>/<vid>.img` for a volume in a file pool.
 * @throws QubesError when the pool has no dir_path or the vid leaves it
 */
export function imagePath(pool: Pool, vid: string): string {
  const dir = pool.attr('dir_path');
  if (!dir) throw new QubesError(`Storage pool ${pool.name} has no dir_path`);
  const p = path.resolve(dir, `${vid}.img`);
  if (!inside(path.resolve(dir), p)) throw new QubesError(`Volume id '${vid}' leaves the directory of pool ${pool.name}`);
  return p;
}

/** A volume-config entry seen through its pool. */
export interface VolumeView {
  name: string;
  pool: Pool | undefined;
  poolName: string;
  vid: string;
  size: number;
  saveOnStop: boolean;
  snapOnStart: boolean;
  rw: boolean;
  source?: string;
}

export function viewVolume(pools: ReadonlyMap<string, Pool>, v: VolumeConfig): VolumeView {
  const poolName = volumeAttr(v, 'pool') ?? '';
  return {
    name: volumeAttr(v, 'name') ?? '',
    pool: pools.get(poolName),
    poolName,
    vid: volumeAttr(v, 'vid') ?? '',
    size: Number(volumeAttr(v, 'size') ?? 0) || 0,
    saveOnStop: volumeAttr(v, 'save_on_stop') === 'True',
    snapOnStart: volumeAttr(v, 'snap_on_start') === 'True',
    rw: volumeAttr(v, 'rw') === 'True',
    source: volumeAttr(v, 'source'),
  };
}

function fsError(what: string, file: string, e: unknown): QubesError {
  return new QubesError(`Cannot ${what} ${file}: ${ioReason(e)}`);
}

/**
 * A new sparse image of `size` bytes (mode 0664, as the reference's file
 * pool). Refuses an existing file (reference: "Volume ... already exists").
 */
export function createSparseImage(file: string, size: number): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  } catch (e) {
    throw fsError('create directory', path.dirname(file), e);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o664);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new QubesError(`Volume image ${file} already exists`);
    throw fsError('create', file, e);
  }
  try {
    fs.ftruncateSync(fd, size);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw fsError('resize', file, e);
  }
  fs.closeSync(fd);
}

const CHUNK = 1024 * 1024;
const ZERO = Buffer.alloc(CHUNK);

/** Copy keeping holes: all-zero chunks are skipped and the size set at the end. */
function sparseCopy(src: string, dst: string): void {
  const inFd = fs.openSync(src, 'r');
  let outFd: number | undefined;
  try {
    outFd = fs.openSync(dst, 'w', 0o664);
    const size = fs.fstatSync(inFd).size;
    const buf = Buffer.alloc(CHUNK);
    for (let off = 0; off < size; ) {
      const n = fs.readSync(inFd, buf, 0, Math.min(CHUNK, size - off), off);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      if (!chunk.equals(ZERO.subarray(0, n))) for (let w = 0; w < n; ) w += fs.writeSync(outFd, chunk, w, n - w, off + w);
      off += n;
    }
    fs.ftruncateSync(outFd, size);
    fs.fsyncSync(outFd);
  } finally {
    if (outFd !== undefined) fs.closeSync(outFd);
    fs.closeSync(inFd);
  }
}

/**
 * GNU cp finds holes with SEEK_DATA/SEEK_HOLE, so a mostly empty 10 GiB
 * image copies in no time; false when cp is not there (then sparseCopy).
 */
function cpSparse(src: string, dst: string): boolean {
  const r = spawnSync('cp', ['--sparse=always', '--reflink=auto', '--', src, dst], { encoding: 'utf8' });
  if (r.error) return false;
  if (r.status !== 0) throw new QubesError(`Cannot copy ${src} to ${dst}: ${r.stderr.trim()}`);
  return true;
}

/**
 * Copy an image: a reflink when the filesystem supports it (instant, shares
 * blocks), else a hole-preserving copy. `dst` is replaced; its directory is
 * made. When `minSize` is larger than the copy, the copy is grown (sparse).
 */
export function copyImage(src: string, dst: string, minSize = 0): void {
  if (!fs.existsSync(src)) throw new QubesError(`Source image ${src} does not exist`);
  try {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
  } catch (e) {
    throw fsError('create directory', path.dirname(dst), e);
  }
  try {
    try {
      fs.copyFileSync(src, dst, fs.constants.COPYFILE_FICLONE_FORCE);
    } catch {
      if (!cpSparse(src, dst)) sparseCopy(src, dst);
    }
    if (fs.statSync(dst).size < minSize) fs.truncateSync(dst, minSize);
  } catch (e) {
    fs.rmSync(dst, { force: true });
    throw e instanceof QubesError ? e : fsError('copy to', dst, e);
  }
}

/**
 * Put the content of `file` into the image at `dst` (qvm-create -r/-R). The
 * image keeps at least `size` bytes; returns the resulting size (larger
 * when the file is larger than the volume). With `move` the file is renamed
 * when on the same filesystem, else copied and then deleted.
 */
export function importImage(file: string, dst: string, size: number, move: boolean): number {
  if (move) {
    try {
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.renameSync(file, dst);
      if (fs.statSync(dst).size < size) fs.truncateSync(dst, size);
      return Math.max(size, fs.statSync(dst).size);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw fsError('move to', dst, e);
    }
  }
  const tmp = `${dst}.import~`;
  copyImage(file, tmp, size);
  try {
    fs.renameSync(tmp, dst);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fsError('replace', dst, e);
  }
  if (move) fs.rmSync(file, { force: true });
  return Math.max(size, fs.statSync(dst).size);
}

/**
 * The directories holding a qube's images in file pools
 * (`<dir_path>/appvms/NAME`, `<dir_path>/vm-templates/NAME`): the parent of
 * each volume image whose directory is named after the qube.
 */
export function imageDirs(pools: ReadonlyMap<string, Pool>, vmName: string, volumes: VolumeConfig[]): string[] {
  const dirs = new Set<string>();
  for (const v of volumes) {
    const view = viewVolume(pools, v);
    if (!isFilePool(view.pool) || !view.vid) continue;
    let img: string;
    try {
      img = imagePath(view.pool, view.vid);
    } catch {
      continue;
    }
    const dir = path.dirname(img);
    if (path.basename(dir) === vmName && inside(path.resolve(view.pool.attr('dir_path') as string), dir)) dirs.add(dir);
  }
  return [...dirs];
}

/** Remove directories; returns one message per failure (callers warn, never fail). */
export function removeDirs(dirs: string[]): string[] {
  const problems: string[] = [];
  for (const d of dirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch (e) {
      problems.push(`cannot remove ${d}: ${ioReason(e)}`);
    }
  }
  return problems;
}

/**
 * Whether `dir`'s filesystem can clone files (decides `file-reflink` for
 * the default pool): clone a small temporary file with FICLONE_FORCE.
 */
export function supportsReflink(dir: string): boolean {
  const a = path.join(dir, `.reflink-test-${process.pid}-a`);
  const b = path.join(dir, `.reflink-test-${process.pid}-b`);
  try {
    fs.writeFileSync(a, 'reflink test\n');
    fs.copyFileSync(a, b, fs.constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(a, { force: true });
    fs.rmSync(b, { force: true });
  }
}
