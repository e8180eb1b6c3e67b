// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * File operations that survive a crash at any point: data is fsynced
 * before it is renamed into place, and the directory after every rename,
 * link, unlink and mkdir, so after a power cut a name points either to the
 * old complete file or to the new complete file.
 *
 * Reference: qubes-core-admin: qubes/utils.py (replace_file, rename_file,
 * remove_file, create_dir, hardlink); spec storage.md §3.2.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { QubesError, StoragePoolError } from '../errors.js';
import { syncDir } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';
const { randomBytes } = crypto;

const fail = (what: string, file: string, e: unknown) => new StoragePoolError(`Cannot ${what} ${file}: ${ioReason(e)}`);

/** fsync a file or a directory (opened read-only, as the store's saves do). */
export const fsyncPath: (p: string) => void = syncDir;

const fsyncDirOf = (p: string) => fsyncPath(path.dirname(p));

/** Temporary names of `replaceFile`: `<dst>~<random>`, found again by `tempLeftovers`. */
const tempName = (dst: string) => `${dst}~${randomBytes(4).toString('hex')}`;

/**
 * Leftover temporary files of `replaceFile` in `dir` whose target name
 * `ours` accepts (a volume's own file names only: another volume's name
 * may start with this one's).
 */
export function tempLeftovers(dir: string, ours: (target: string) => boolean): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /~[0-9a-f]{8}$/.test(n) && ours(n.slice(0, -9))).map((n) => path.join(dir, n));
}

/**
 * Make `dst` anew: `write` fills a temporary file next to it, which is
 * fsynced and renamed over `dst`, then the directory is fsynced. On any
 * error the temporary file is removed and `dst` is untouched.
 */
export async function replaceFile(dst: string, write: (tmp: string) => Promise<void> | void, mode = 0o600): Promise<void> {
  const tmp = tempName(dst);
  try {
    await write(tmp);
    fs.chmodSync(tmp, mode);
    fsyncPath(tmp);
    fs.renameSync(tmp, dst);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    // our own errors (a failed copy, a cancel) say what happened; errno errors get the file's name
    throw e instanceof QubesError ? e : fail('write', dst, e);
  }
  fsyncDirOf(dst);
}

export function renameFile(from: string, to: string): void {
  try {
    fs.renameSync(from, to);
  } catch (e) {
    throw fail('rename', `${from} to ${to}`, e);
  }
  fsyncDirOf(to);
  if (path.dirname(from) !== path.dirname(to)) fsyncDirOf(from);
}

/** Unlink; a missing file is fine. */
export function removeFile(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fail('remove', p, e);
  }
  fsyncDirOf(p);
}

/** mkdir (parents too); fsync of each new directory's parent. */
export function createDir(dir: string, mode = 0o775): void {
  if (fs.existsSync(dir)) return;
  createDir(path.dirname(dir), mode);
  try {
    fs.mkdirSync(dir, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fail('create directory', dir, e);
  }
  fsyncDirOf(dir);
}

export function hardlink(existing: string, link: string): void {
  try {
    fs.linkSync(existing, link);
  } catch (e) {
    throw fail('link', link, e);
  }
  fsyncDirOf(link);
}

/** Set the file's size (sparse growth) and fsync it. */
export function truncateFile(p: string, size: number): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, 'r+');
    fs.ftruncateSync(fd, size);
    fs.fsyncSync(fd);
  } catch (e) {
    throw fail('resize', p, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A new sparse file of `size` bytes (replacing any old one, atomically). */
export async function createSparse(p: string, size: number, mode = 0o600): Promise<void> {
  await replaceFile(
    p,
    (tmp) => {
      const fd = fs.openSync(tmp, 'wx', mode);
      try {
        fs.ftruncateSync(fd, size);
      } finally {
        fs.closeSync(fd);
      }
    },
    mode,
  );
}
