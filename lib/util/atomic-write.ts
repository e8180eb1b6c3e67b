// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Replacing a file so that readers see either the old or the new content,
 * never a part: write `NAME~<12 hex>` in the same directory, fsync it, set
 * its mode (and group `qubes` when that group exists), rename it over NAME,
 * then fsync the directory so the rename survives a crash (#3376: empty
 * qubes.xml after a power loss).
 *
 * Errors are thrown as they come (errno errors, or whatever `beforeRename`
 * throws); callers word them. The temporary file never outlives a failure.
 *
 * Reference: qubes-core-admin: qubes/utils.py replace_file.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * `n` random bytes as hex, from the global Web Crypto object, which loads
 * Node's crypto modules the first time it is used (a write), not when every
 * command starts (issue 17).
 */
const randomHex = (n: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString('hex');

/** gid of group `qubes`, read from /etc/group (Node has no getgrnam). */
export function qubesGid(): number | undefined {
  try {
    const line = fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('qubes:'));
    const gid = line ? Number(line.split(':')[2]) : NaN;
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

/** writeSync may write less than asked (a filling disk); loop until done or an error. */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Matches the temporary names replaceFile uses for `file` (for cleaning up after a killed writer). */
export function tempNamePattern(file: string): RegExp {
  return new RegExp(`^${path.basename(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}~[0-9a-f]{12}$`);
}

export interface ReplaceOptions {
  /** Mode of the new file (applied with fchmod, so the umask does not narrow it). */
  mode: number;
  /** Runs after the data is durable and before the rename; throwing cancels the replace. */
  beforeRename?: () => void;
}

/**
 * Atomically replace (or create) `file` with `data`, without syncing the
 * directory (see syncDir).
 * @throws the underlying error; the temporary file is removed
 */
export function replaceFile(file: string, data: string, opts: ReplaceOptions): void {
  const tmp = path.join(path.dirname(file), `${path.basename(file)}~${randomHex(6)}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', opts.mode);
    writeAll(fd, Buffer.from(data, 'utf8'));
    fs.fchmodSync(fd, opts.mode);
    const gid = qubesGid();
    if (gid !== undefined) fs.fchownSync(fd, -1, gid);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    opts.beforeRename?.();
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Make a rename in `dir` durable. */
export function syncDir(dir: string): void {
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
