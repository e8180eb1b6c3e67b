// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A streaming tar reader for what backups contain: ustar and GNU members,
 * pax `x` headers (path, size, linkpath, sparse 1.0 and 0.1), GNU long
 * names (`L`/`K`), old-GNU sparse members (`S`, with extension blocks), and
 * the zero blocks between concatenated archives when asked to skip them
 * (`tar -i`, the outer archive). Entries come one at a time; each body is
 * read (or skipped) before the next header.
 *
 * Our own reader rather than tar-stream: that one does not understand the
 * pax sparse layout the reference's tarwriter produces, nor old-GNU sparse
 * maps, and restore needs both (spec backup.md §2.8).
 */
import { BackupError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { BLOCK, checksumOk, padLength, parsePaxRecords, readNumber, readString } from './tar-format.js';
import type { SparseMap } from './tar-writer.js';

export interface TarEntry {
  name: string;
  /** Type flag as a character ('0' for regular files, '5' directories, '2' symlinks, ...). */
  type: string;
  mode: number;
  mtime: number;
  linkname: string;
  /** Bytes stored in the archive after the sparse map (the data extents, or the whole file). */
  storedSize: number;
  /** The file's full size (realsize of a sparse file). */
  size: number;
  /** Data extents of a sparse member; undefined for a plain one. */
  sparse?: SparseMap;
  /** Offset of the header in the source (messages). */
  offset: number;
}

export interface TarReaderOptions {
  /**
   * Skip zero blocks between archives instead of ending (tar -i); a run of
   * more than MAX_ZERO_RUN zero bytes still ends the archive.
   */
  ignoreZeros?: boolean;
  /** What the archive is, for messages ("backup archive", "inner archive of vm1/private.img"). */
  what: string;
  /** Refuse members larger than this (bytes stored). */
  maxMemberSize?: number;
}

const MAX_META = 1024 * 1024;
/**
 * Zero bytes between two concatenated archives: the end-of-archive blocks
 * and the padding to the record size (10 KiB by default, 1 MiB at tar's
 * largest usual blocking factor). A longer run is not padding: it ends the
 * archive, so a backup on a zeroed device, or /dev/zero, is read to a stop.
 */
export const MAX_ZERO_RUN = 1024 * 1024;

export class TarReader {
  private left = 0;
  private pad = 0;
  private done = false;
  /** The archive ended in a run of zero bytes longer than MAX_ZERO_RUN. */
  endedInZeros = false;

  constructor(
    private readonly src: ByteSource,
    private readonly opts: TarReaderOptions,
  ) {}

  private short = (): Error => new BackupError(`Premature end of ${this.opts.what}`);
  private bad = (msg: string): Error => new BackupError(`${this.opts.what}: ${msg}`);

  /** The next entry, or null at the end of the archive. Unread data of the previous one is skipped. */
  async next(): Promise<TarEntry | null> {
    await this.src.skip(this.left + this.pad, this.short);
    this.left = this.pad = 0;
    if (this.done) return null;
    const pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    let zeros = 0;
    for (;;) {
      const offset = this.src.position;
      const h = await this.src.read(BLOCK);
      if (h.length === 0) {
        this.done = true;
        if (pax.size || longName !== undefined) throw this.short();
        return null;
      }
      if (h.length < BLOCK) throw this.short();
      if (h.every((b) => b === 0)) {
        zeros += BLOCK;
        if (this.opts.ignoreZeros && zeros <= MAX_ZERO_RUN) continue;
        this.done = true;
        this.endedInZeros = zeros > MAX_ZERO_RUN;
        if (pax.size || longName !== undefined) throw this.short();
        return null;
      }
      zeros = 0;
      if (!checksumOk(h)) throw this.bad(`invalid tar header at offset ${offset}`);
      const type = String.fromCharCode(h[156] || 0x30);
      const size = this.field(h, 124, 12, offset);
      if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
        if (size > MAX_META) throw this.bad(`oversized metadata record at offset ${offset}`);
        const data = await this.src.read(size);
        if (data.length < size) throw this.short();
        await this.src.skip(padLength(size), this.short);
        if (type === 'x') {
          try {
            for (const [k, v] of parsePaxRecords(data)) pax.set(k, v);
          } catch (e) {
            throw this.bad(`${(e as Error).message} at offset ${offset}`);
          }
        } else if (type === 'L') longName = readString(data, 0, data.length);
        else if (type === 'K') longLink = readString(data, 0, data.length);
        continue;
      }
      return this.entry(h, type, size, offset, pax, longName, longLink);
    }
  }

  private async entry(h: Buffer, type: string, rawSize: number, offset: number, pax: Map<string, string>, longName?: string, longLink?: string): Promise<TarEntry> {
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? readString(h, 345, 155) : '';
    let name = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${readString(h, 0, 100)}` : readString(h, 0, 100));
    const linkname = pax.get('linkpath') ?? longLink ?? readString(h, 157, 100);
    let stored = pax.has('size') ? Number(pax.get('size')) : rawSize;
    if (!Number.isSafeInteger(stored) || stored < 0) throw this.bad(`invalid size at offset ${offset}`);
    if (this.opts.maxMemberSize !== undefined && stored > this.opts.maxMemberSize)
      throw this.bad(`member ${name} is too large (${stored} bytes)`);
    let size = stored;
    let sparse: SparseMap | undefined;
    let consumed = 0;
    if (type === 'S') {
      ({ map: sparse, realsize: size, extra: consumed } = await this.oldGnuSparse(h, offset));
      type = '0';
    } else if (pax.get('GNU.sparse.major') === '1' && pax.get('GNU.sparse.minor') === '0') {
      name = pax.get('GNU.sparse.name') ?? name;
      size = this.number(pax.get('GNU.sparse.realsize'), offset);
      const m = await this.pax1Map(stored, offset);
      sparse = m.map;
      consumed = m.bytes;
    } else if (pax.has('GNU.sparse.map')) {
      name = pax.get('GNU.sparse.name') ?? name;
      size = this.number(pax.get('GNU.sparse.realsize') ?? pax.get('GNU.sparse.size'), offset);
      const nums = (pax.get('GNU.sparse.map') as string).split(',').map((x) => this.number(x, offset));
      if (nums.length % 2) throw this.bad(`invalid sparse map at offset ${offset}`);
      sparse = [];
      for (let i = 0; i < nums.length; i += 2) sparse.push([nums[i] as number, nums[i + 1] as number]);
    }
    if (sparse) this.checkMap(sparse, size, stored - consumed, offset);
    this.left = stored - consumed;
    this.pad = padLength(stored);
    return {
      name,
      type,
      mode: this.field(h, 100, 8, offset),
      mtime: this.field(h, 136, 12, offset),
      linkname,
      storedSize: stored - consumed,
      size,
      sparse,
      offset,
    };
  }

  /** A numeric header field; a malformed one makes the header invalid. */
  private field(h: Buffer, at: number, width: number, offset: number): number {
    try {
      return readNumber(h, at, width);
    } catch {
      throw this.bad(`invalid tar header at offset ${offset}`);
    }
  }

  private number(v: string | undefined, offset: number): number {
    const n = Number(v);
    if (v === undefined || !/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw this.bad(`invalid sparse header at offset ${offset}`);
    return n;
  }

  private checkMap(map: SparseMap, size: number, stored: number, offset: number): void {
    let end = 0;
    let data = 0;
    for (const [o, l] of map) {
      if (o < end || o + l > size) throw this.bad(`invalid sparse map at offset ${offset}`);
      end = o + l;
      data += l;
    }
    if (data !== stored) throw this.bad(`sparse map does not match the stored data at offset ${offset}`);
  }

  /** Old-GNU sparse: 4 map entries in the header, more in extension blocks (counted in the stored size? no: they follow the header). */
  private async oldGnuSparse(h: Buffer, offset: number): Promise<{ map: SparseMap; realsize: number; extra: number }> {
    const map: SparseMap = [];
    const take = (b: Buffer, at: number, count: number) => {
      for (let i = 0; i < count; i++) {
        const o = at + i * 24;
        if (b[o] === 0) break;
        map.push([this.field(b, o, 12, offset), this.field(b, o + 12, 12, offset)]);
      }
    };
    take(h, 386, 4);
    let extended = h[482] !== 0;
    const realsize = this.field(h, 483, 12, offset);
    while (extended) {
      const ext = await this.src.read(BLOCK);
      if (ext.length < BLOCK) throw this.short();
      take(ext, 0, 21);
      extended = ext[504] !== 0;
      if (map.length > 10_000_000) throw this.bad(`sparse map too long at offset ${offset}`);
    }
    return { map, realsize, extra: 0 };
  }

  /**
   * Pax sparse 1.0: decimal map at the start of the data, padded to 512.
   * A volume's map may hold a hundred thousand entries (megabytes of
   * text): newlines are counted block by block and the text parsed once
   * it is complete, never re-split as it grows.
   */
  private async pax1Map(stored: number, offset: number): Promise<{ map: SparseMap; bytes: number }> {
    const blocks: Buffer[] = [];
    let bytes = 0;
    let newlines = 0;
    let count = -1;
    for (;;) {
      if (bytes + BLOCK > stored) throw this.bad(`invalid sparse map at offset ${offset}`);
      const b = await this.src.read(BLOCK);
      if (b.length < BLOCK) throw this.short();
      bytes += BLOCK;
      blocks.push(b);
      for (let at = b.indexOf(10); at >= 0; at = b.indexOf(10, at + 1)) newlines++;
      if (count < 0 && newlines > 0) count = this.number(Buffer.concat(blocks).toString('latin1').split('\n', 1)[0], offset);
      if (count >= 0 && newlines > 2 * count) break;
      if (bytes > 64 * 1024 * 1024) throw this.bad(`sparse map too long at offset ${offset}`);
    }
    const l = Buffer.concat(blocks).toString('latin1').split('\n');
    const map: SparseMap = [];
    for (let i = 0; i < count; i++) map.push([this.number(l[1 + 2 * i], offset), this.number(l[2 + 2 * i], offset)]);
    return { map, bytes };
  }

  /** The current entry's stored data in pieces. */
  body(max?: number): AsyncGenerator<Buffer> {
    const n = this.left;
    this.left = 0;
    return this.src.pieces(n, this.short, max);
  }

  /** The whole body in memory (small files only). */
  async readBody(limit: number): Promise<Buffer> {
    if (this.left > limit) throw this.bad(`member too large (${this.left} bytes)`);
    const parts: Buffer[] = [];
    for await (const p of this.body()) parts.push(p);
    return Buffer.concat(parts);
  }
}
