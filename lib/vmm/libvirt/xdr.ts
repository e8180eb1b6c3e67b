// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The part of XDR (RFC 4506) the libvirt RPC protocol uses: big-endian
 * 4-byte words, 8-byte hypers, length-prefixed strings and opaques padded
 * to a multiple of 4 with zero bytes, fixed opaques without a length,
 * optionals as a 0/1 word before the value. rpcgen widens char and short
 * to a full word, so they are ints here.
 *
 * Reference: shared/spec/libvirt-rpc.md §2.
 */

/** A payload ended early or holds a value out of range; the frame cannot be trusted. */
export class XdrError extends Error {
  override name = 'XdrError';
}

const pad = (n: number) => (4 - (n % 4)) % 4;

export class XdrWriter {
  private chunks: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  int(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new XdrError(`int out of range: ${v}`);
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.push(b);
  }

  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new XdrError(`unsigned int out of range: ${v}`);
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v);
    return this.push(b);
  }

  bool(v: boolean): this {
    return this.uint(v ? 1 : 0);
  }

  hyper(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }

  uhyper(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }

  /** Variable-length opaque: length word, bytes, zero padding. */
  opaque(v: Buffer): this {
    this.uint(v.length);
    return this.fixedOpaque(v);
  }

  /** Fixed-length opaque (e.g. a UUID): bytes and padding, no length. */
  fixedOpaque(v: Buffer): this {
    this.push(v);
    const p = pad(v.length);
    return p ? this.push(Buffer.alloc(p)) : this;
  }

  string(v: string): this {
    return this.opaque(Buffer.from(v, 'utf8'));
  }

  /** `T *`: absent (0), or 1 followed by the value. */
  optional<T>(v: T | null | undefined, write: (w: this, v: T) => void): this {
    if (v === null || v === undefined) return this.uint(0);
    this.uint(1);
    write(this, v);
    return this;
  }

  /** `T name<>`: count, then each element. */
  array<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.uint(items.length);
    for (const it of items) write(this, it);
    return this;
  }

  get length(): number {
    return this.size;
  }

  toBuffer(): Buffer {
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
  }
}

export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) throw new XdrError(`payload too short: needed ${n} bytes at offset ${at} of ${this.buf.length}`);
    this.pos += n;
    return at;
  }

  int(): number {
    return this.buf.readInt32BE(this.need(4));
  }

  uint(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  bool(): boolean {
    return this.uint() !== 0;
  }

  hyper(): bigint {
    return this.buf.readBigInt64BE(this.need(8));
  }

  uhyper(): bigint {
    return this.buf.readBigUInt64BE(this.need(8));
  }

  double(): number {
    return this.buf.readDoubleBE(this.need(8));
  }

  /** A view into the payload (not a copy): keep it only as long as the payload. */
  fixedOpaque(n: number): Buffer {
    const at = this.need(n);
    this.need(pad(n));
    return this.buf.subarray(at, at + n);
  }

  opaque(max = Infinity): Buffer {
    const n = this.uint();
    if (n > max) throw new XdrError(`opaque of ${n} bytes exceeds the limit of ${max}`);
    return this.fixedOpaque(n);
  }

  string(max = Infinity): string {
    return this.opaque(max).toString('utf8');
  }

  optional<T>(read: (r: this) => T): T | null {
    const flag = this.uint();
    if (flag === 0) return null;
    if (flag !== 1) throw new XdrError(`bad optional flag ${flag}`);
    return read(this);
  }

  array<T>(read: (r: this) => T, max = Infinity): T[] {
    const n = this.uint();
    if (n > max) throw new XdrError(`array of ${n} elements exceeds the limit of ${max}`);
    // every element takes at least 4 bytes: refuse counts the payload cannot hold
    if (n * 4 > this.remaining) throw new XdrError(`array of ${n} elements does not fit in ${this.remaining} bytes`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** The whole payload must have been read: trailing bytes mean a wrong decoder. */
  end(): void {
    if (this.remaining !== 0) throw new XdrError(`${this.remaining} unexpected bytes at the end of the payload`);
  }
}
