// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Files of a per-user cache (the parsed-store cache, lib/app/store-cache.ts):
 * only ever an optimisation, so every doubt reads as "no cache".
 *
 * - The directory is made with mode 0700 and used only if it is a directory
 *   owned by the effective user that nobody else may write.
 * - A file is read only if it is a regular file owned by the effective user
 *   that nobody else may write (checked on the descriptor read), so that
 *   nobody but the user can put words in the user's mouth.
 * - A file is written whole under a temporary name of this process, then
 *   renamed into place: readers see an old file, a new one, or none. It is
 *   not synced: a file torn by a crash fails the checksum its caller keeps in
 *   it, and is then written again.
 *
 * Errors are swallowed: a cache that cannot be read or written is absent.
 * (lib/launcher.ts takes its directory check from here for the code cache;
 * it reads and writes its files itself, synced, with its own checksum.)
 */
import fs from 'node:fs';
import path from 'node:path';

/** Whether this user alone can write what `st` describes (owned by the effective user, no group/other write). */
const ownedPrivately = (st: fs.Stats): boolean => st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;

/** The cache directory when it exists (made if missing) and only this user can write it. */
export function privateCacheDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    return st.isDirectory() && ownedPrivately(st);
  } catch {
    return false;
  }
}

/** How much of a cache file `wanted` is shown before the whole is read. */
const HEAD_BYTES = 1024;

/**
 * The bytes of a cache file that is a regular file of this user's alone,
 * else undefined. `wanted` sees its first bytes (its header) first: an
 * entry made for something else is not read whole (3.3 MB for 1004 qubes).
 */
export function readPrivateFile(file: string, wanted: (head: Buffer) => boolean = () => true): Buffer | undefined {
  let fd: number | undefined;
  try {
    // O_NOFOLLOW: a symbolic link planted in the directory is not followed; O_NONBLOCK: a FIFO cannot block.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !ownedPrivately(st)) return undefined;
    const head = Buffer.allocUnsafe(Math.min(st.size, HEAD_BYTES));
    // at offset 0 (pread): the descriptor's position stays at the start for the whole read
    if (!wanted(head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)))) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Write `data` as `file` (mode 0600) whole, under a temporary name then renamed; false on any error. */
export function writePrivateFile(file: string, data: Uint8Array | string): boolean {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
    fs.renameSync(tmp, file);
    return true;
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing more to clean
    }
    return false;
  }
}
