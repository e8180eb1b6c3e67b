// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The tar shapes a backup is made of:
 *
 * - outer members: one self-contained pax archive per file, as
 *   `tar -cO --posix` writes it (an `x` header `<dir>/PaxHeaders/<base>`
 *   with the times, the ustar header, the data padded to 512, two zero
 *   blocks, all padded to the 10240-byte record);
 * - inner archives of small files: one ustar member and the end blocks;
 * - inner archives of volume images: the pax sparse 1.0 layout of the
 *   reference's tarwriter (`GNU.sparse.*` records, the map at the start of
 *   the member data, only the data blocks), with the data padded to 512 so
 *   GNU tar reads it without its "lone zero block" warning.
 *
 * Reference: qubes-core-admin: qubes/tarwriter.py, qubes/backup.py
 * SendWorker; spec backup.md §2.2, §2.7, §2.8.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BLOCK, encodeHeader, padLength, paxRecord, RECORD, ZERO_BLOCK } from './tar-format.js';

const END = Buffer.alloc(2 * BLOCK);

/** Split a name into ustar prefix/name (names in a backup are ASCII, short). */
function ustarName(name: string): { name: string; prefix?: string } {
  if (Buffer.byteLength(name) <= 100) return { name };
  const cut = name.lastIndexOf('/', 155);
  if (cut > 0 && Buffer.byteLength(name.slice(cut + 1)) <= 100) return { name: name.slice(cut + 1), prefix: name.slice(0, cut) };
  throw new RangeError(`name too long for a backup member: ${name}`);
}

/** The bytes before an outer member's data: pax `x` header, records, ustar header. */
export function outerMemberHead(name: string, size: number, mtimeMs: number): Buffer {
  const secs = Math.floor(mtimeMs / 1000);
  const stamp = `${secs}.${String(Math.floor((mtimeMs % 1000) * 1e6)).padStart(9, '0')}`;
  const records = Buffer.from(paxRecord('mtime', stamp) + paxRecord('atime', stamp) + paxRecord('ctime', stamp));
  const dir = path.posix.dirname(name);
  const xName = `${dir}/PaxHeaders/${path.posix.basename(name)}`.slice(0, 100);
  const x = encodeHeader({ name: xName, mode: 0o644, size: records.length, mtime: secs, type: 'x' });
  const head = encodeHeader({ ...ustarName(name), mode: 0o644, size, mtime: secs, type: '0', uname: 'root', gname: 'root' });
  return Buffer.concat([x, records, Buffer.alloc(padLength(records.length)), head]);
}

/** The bytes after an outer member's data: padding, end blocks, record padding. */
export function outerMemberTail(name: string, size: number): Buffer {
  const headLen = outerMemberHead(name, size, 0).length;
  const used = headLen + size + padLength(size) + END.length;
  return Buffer.alloc(padLength(size) + END.length + padLength(used, RECORD));
}

/** A complete outer member for data held in memory. */
export function outerMember(name: string, data: Buffer, mtimeMs: number): Buffer {
  return Buffer.concat([outerMemberHead(name, data.length, mtimeMs), data, outerMemberTail(name, data.length)]);
}

/** An inner archive holding one small regular file (qubes.xml, firewall.xml, notes.txt, empty). */
export function smallFileTar(memberName: string, data: Buffer, mode = 0o644, mtimeMs = Date.now()): Buffer {
  const h = encodeHeader({ ...ustarName(memberName), mode, size: data.length, mtime: Math.floor(mtimeMs / 1000), type: '0', uname: 'root', gname: 'root' });
  return Buffer.concat([h, data, Buffer.alloc(padLength(data.length)), END]);
}

/** Data extents of an image: [offset, length] pairs, the last one reaching the end (maybe with length 0). */
export type SparseMap = [number, number][];

const SCAN = 1024 * 1024;

/** Whether the 512-byte (or shorter, last) block at `at` holds only zeros. */
function zeroBlock(buf: Buffer, at: number, len: number): boolean {
  if (buf[at] !== 0 || buf[at + len - 1] !== 0) return false;
  return buf.compare(ZERO_BLOCK, 0, len, at, at + len) === 0;
}

/**
 * Scan the data extents of `fd` (`extents`, from the filesystem; the
 * rest are holes) in 512-byte blocks: a block with any non-zero byte is
 * data, consecutive data blocks one map entry (tarwriter's rule). A file
 * ending in a hole, or empty, gets a final (size, 0) entry.
 */
export function scanSparse(fd: number, size: number, extents: SparseMap = size > 0 ? [[0, size]] : [], onRead?: (n: number) => void): SparseMap {
  const map: SparseMap = [];
  const buf = Buffer.allocUnsafe(SCAN);
  let start = -1;
  let end = 0;
  for (const [extOff, extLen] of extents) {
    const from = extOff - (extOff % BLOCK);
    const to = Math.min(size, extOff + extLen);
    if (start >= 0 && from > end) {
      map.push([start, end - start]);
      start = -1;
    }
    for (let off = Math.max(from, end); off < to; ) {
      const want = Math.min(SCAN, to - off);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, off + got);
        if (n === 0) throw new Error(`image shorter than its size (${off + got} < ${size})`);
        got += n;
      }
      for (let i = 0; i < got; i += BLOCK) {
        const len = Math.min(BLOCK, got - i);
        const zero = zeroBlock(buf, i, len);
        if (!zero && start < 0) start = off + i;
        else if (zero && start >= 0) {
          map.push([start, off + i - start]);
          start = -1;
        }
      }
      off += got;
      end = off;
      onRead?.(got);
    }
  }
  if (start >= 0) {
    map.push([start, end - start]);
    start = -1;
  }
  if (map.length === 0 || (map.at(-1) as [number, number])[0] + (map.at(-1) as [number, number])[1] < size) map.push([size, 0]);
  return map;
}

function mapBlock(map: SparseMap): Buffer {
  let text = `${map.length}\n`;
  for (const [o, l] of map) text += `${o}\n${l}\n`;
  const b = Buffer.from(text, 'ascii');
  return Buffer.concat([b, Buffer.alloc(padLength(b.length))]);
}

/** The pax header and ustar header of a sparse member (pax 1.0, as tarwriter writes them). */
function sparseHeaders(memberName: string, realSize: number, storedSize: number): Buffer {
  const records = Buffer.from(
    paxRecord('GNU.sparse.major', '1') +
      paxRecord('GNU.sparse.minor', '0') +
      paxRecord('GNU.sparse.name', memberName) +
      paxRecord('GNU.sparse.realsize', String(realSize)),
  );
  const x = encodeHeader({ name: '././@PaxHeader', mode: 0, size: records.length, mtime: 0, type: 'x' });
  const dir = path.posix.dirname(memberName);
  const fake = `${dir}/GNUSparseFile.${process.pid}/${path.posix.basename(memberName)}`;
  const h = encodeHeader({ ...ustarName(fake), mode: 0o644, size: storedSize, mtime: 0, type: '0' });
  return Buffer.concat([x, records, Buffer.alloc(padLength(records.length)), h]);
}

/**
 * The pieces sparseImageTar hands out: the compressor's block size, so the
 * compressor takes them as they are (no regrouping copy), and image data
 * is read straight into them, one read per extent piece.
 */
const PIECE = 4 * 1024 * 1024;

/**
 * The inner archive of a volume image: scan for data extents, then the
 * headers, the map and the data of each extent, read again from `fd`,
 * in pieces of PIECE bytes (the last one shorter).
 */
export async function* sparseImageTar(fd: number, size: number, memberName: string, extents?: SparseMap): AsyncGenerator<Buffer> {
  const map = scanSparse(fd, size, extents);
  const mb = mapBlock(map);
  const dataLen = map.reduce((s, [, l]) => s + l, 0);
  let out = Buffer.allocUnsafe(PIECE);
  let used = 0;
  /** Room left in the current piece; a full piece is handed out first. */
  const room = function* (): Generator<Buffer, number> {
    if (used === PIECE) {
      yield out;
      out = Buffer.allocUnsafe(PIECE);
      used = 0;
    }
    return PIECE - used;
  };
  const put = function* (b: Buffer): Generator<Buffer> {
    for (let at = 0; at < b.length; ) {
      const n = Math.min(yield* room(), b.length - at);
      b.copy(out, used, at, at + n);
      used += n;
      at += n;
    }
  };
  yield* put(sparseHeaders(memberName, size, mb.length + dataLen));
  yield* put(mb);
  for (const [off, len] of map) {
    for (let at = 0; at < len; ) {
      const n = Math.min(yield* room(), len - at);
      const r = fs.readSync(fd, out, used, n, off + at);
      if (r === 0) throw new Error('image changed while it was being backed up (shorter)');
      used += r;
      at += r;
    }
  }
  yield* put(Buffer.alloc(padLength(mb.length + dataLen) + END.length));
  if (used > 0) yield out.subarray(0, used);
}
