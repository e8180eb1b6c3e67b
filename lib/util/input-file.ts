// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Reading a file the suite parses (qubes.xml, a qube's firewall.xml, a
 * passphrase file, a lock's owner record): only a regular file, and only up
 * to a size that kind of file can sensibly have. Anything else is refused
 * with one line naming the file, before it is read:
 *
 * - a character or block device, FIFO, socket or directory (`/dev/zero`
 *   never ends, a FIFO blocks the open until someone writes, a device may
 *   act on being opened): the file's type is checked with stat() before it
 *   is opened, and again on the open descriptor (opened non-blocking, so a
 *   file swapped for a FIFO in between cannot block);
 * - a file larger than `maxBytes`: refused from its size, and the read
 *   stops at `maxBytes + 1` bytes whatever the size said (a file that grows
 *   while read, or one of /proc that reports size 0).
 *
 * Errors of the system calls themselves (ENOENT, EACCES, ...) are thrown as
 * they come, so that callers keep their own meaning for a missing file
 * (no qubes.xml: "use qubes-create"; no firewall.xml: the default rule).
 *
 * Usage: `readInputFile(file, { what: 'firewall.xml', maxBytes: 64 * MiB })`.
 */
import fs from 'node:fs';
import { QubesError } from '../errors.js';

export const MiB = 1024 * 1024;

/** The file is not a regular file, or is larger than its kind allows. */
export class InputFileError extends QubesError {
  override name = 'InputFileError';
  override readonly code: string = 'EQUBES_INPUT_FILE';
}

export interface InputLimits {
  /** What the file is, for messages (`qubes.xml`, `a passphrase file`). */
  what: string;
  /** Largest accepted size in bytes. */
  maxBytes: number;
}

/** What a file is, for a message: `a regular file`, `a FIFO`, `a character device`, ... (lstat tells `a symbolic link`). */
export function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a file of unknown type';
}

const sizeText = (n: number) => (n % MiB === 0 ? `${n / MiB} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`);

function refuseSpecial(file: string, limits: InputLimits, st: fs.Stats): void {
  if (!st.isFile()) throw new InputFileError(`${file} is ${fileKind(st)}; ${limits.what} must be a regular file`);
}

const tooLarge = (name: string, limits: InputLimits) =>
  new InputFileError(`${name} is larger than ${sizeText(limits.maxBytes)}, the most ${limits.what} may hold`);

/** Read `fd` to its end, refusing more than `maxBytes`. */
function readBounded(fd: number, name: string, limits: InputLimits, sizeHint: number): Buffer {
  let buf = Buffer.allocUnsafe(Math.min(sizeHint, limits.maxBytes) + 1);
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (len > limits.maxBytes) throw tooLarge(name, limits);
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, limits.maxBytes + 1));
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const n = fs.readSync(fd, buf, len, buf.length - len, null);
    if (n === 0) break;
    len += n;
  }
  if (len > limits.maxBytes) throw tooLarge(name, limits);
  return buf.subarray(0, len);
}

/**
 * The content of a regular file of at most `maxBytes`, with the stat of
 * the descriptor it was read from (the identity of what was read).
 * @throws InputFileError for a special file or one too large; the system
 *   call's own error otherwise (ENOENT, EACCES, ...)
 */
export function readInputFileStat(file: string, limits: InputLimits): { data: Buffer; stat: fs.Stats } {
  refuseSpecial(file, limits, fs.statSync(file));
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const stat = fs.fstatSync(fd);
    refuseSpecial(file, limits, stat);
    if (stat.size > limits.maxBytes) throw tooLarge(file, limits);
    return { data: readBounded(fd, file, limits, stat.size), stat };
  } finally {
    fs.closeSync(fd);
  }
}

/** @see readInputFileStat */
export const readInputFile = (file: string, limits: InputLimits): Buffer => readInputFileStat(file, limits).data;
