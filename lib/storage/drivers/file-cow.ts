// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `file` driver's dm-snapshot exception stores (its `-cow.img` files),
 * read from the file alone: whether one holds changes of a run that was not
 * committed. The device-mapper layer that writes them is file-dm.ts.
 *
 * Reference: qubes-core-admin: qubes/storage/file.py (is_dirty,
 * qubes-issues#6371); the kernel's dm-snap-persistent.c for the header.
 */
import fs from 'node:fs';
import { StoragePoolError } from '../../errors.js';
import { ioReason } from '../../util/io-error.js';

/** The exception store the dm layer sets up (file-dm.ts): chunks of 256 sectors. */
const HEADER_BYTES = 262144;

/**
 * An untouched persistent exception store: the header dm-snap-persistent
 * writes (`struct.pack('<4I', 0x70416e53, 1, 1, 256)`: magic "SnAp", valid,
 * version 1, chunk size) and an empty first metadata area, all zeros.
 */
const EMPTY_SNAPSHOT: Buffer = (() => {
  const b = Buffer.alloc(HEADER_BYTES);
  [0x70416e53, 1, 1, 256].forEach((n, i) => b.writeUInt32LE(n, i * 4));
  return b;
})();

const READ_CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(READ_CHUNK);

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

const isZero = (b: Buffer) => b.equals(ZEROS.subarray(0, b.length));

/** Whether any byte from `offset` to `size` is not zero (holes read as zeros; the kernel reads them fast). */
function nonZeroFrom(fd: number, offset: number, size: number): boolean {
  for (let at = offset; at < size; at += READ_CHUNK) {
    const chunk = readAt(fd, at, Math.min(READ_CHUNK, size - at));
    if (chunk.length === 0) return false;
    if (!isZero(chunk)) return true;
  }
  return false;
}

/**
 * Whether a cow holds changes: the reference's rule (qubes-issues#6371)
 *   has data && (used > 262144 || first 262144 bytes != EMPTY_SNAPSHOT || used > first hole)
 * with used = st_blocks*512. Node has no SEEK_DATA/SEEK_HOLE, so:
 * - "has data": some block is allocated (used > 0) and, when the first
 *   262144 bytes are all zeros (dm never wrote a header: a cow we created
 *   sparse), more than 262144 bytes are allocated or a non-zero byte
 *   exists further on. A filesystem that charges a block to an empty file
 *   (ZFS) thus reads as clean, as in the reference.
 * - "used > first hole" with the empty header in place and at most 262144
 *   bytes used: blocks exist beyond a hole. Only when the used bytes fit in
 *   the first block (which holds "SnAp") is that impossible; otherwise the
 *   file past the header is read for a non-zero byte.
 * Allocated blocks that hold only zeros cannot be told from holes by
 * reading; the reference would count them. Real exceptions also change the
 * metadata area inside the first 262144 bytes, so they are always seen.
 */
export function cowHasChanges(cow: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(cow, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StoragePoolError(`Cannot read ${cow}: ${ioReason(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    const used = st.blocks * 512;
    if (used === 0) return false;
    const head = readAt(fd, 0, Math.min(st.size, HEADER_BYTES));
    if (isZero(head)) return used > HEADER_BYTES || nonZeroFrom(fd, head.length, st.size);
    if (used > HEADER_BYTES || !head.equals(EMPTY_SNAPSHOT)) return true;
    if (used <= Math.min(st.blksize, 4096)) return false;
    return nonZeroFrom(fd, HEADER_BYTES, st.size);
  } finally {
    fs.closeSync(fd);
  }
}
