// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * libvirt RPC framing, without I/O: a frame is a 4-byte total length, a
 * 24-byte header (program, version, procedure, type, serial, status) and an
 * XDR payload. FrameDecoder turns a byte stream (chunks split or joined
 * anywhere) into frames; encodeFrame does the reverse. A REPLY with status
 * ERROR carries a `remote_error`, decoded whole here.
 *
 * Reference: libvirt src/rpc/virnetprotocol.x, virkeepaliveprotocol.x;
 * shared/spec/libvirt-rpc.md §1.
 */
import { XdrReader, XdrWriter } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const PROTOCOL_VERSION = 1;

export const KEEPALIVE_PING = 1;
export const KEEPALIVE_PONG = 2;

/** virNetMessageType, every value: a frame of any type may arrive (the transport ignores the ones it does not use). @public */
export enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

/** virNetMessageStatus, every value. @public */
export enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export const HEADER_SIZE = 28;
/** VIR_NET_MESSAGE_MAX (32 MiB) plus the length word: larger frames are refused unread. */
export const MAX_FRAME = 32 * 1024 * 1024 + 4;
/** REMOTE_STRING_MAX: the longest string (a domain XML) either side accepts. */
export const STRING_MAX = 4194304;

export interface Header {
  prog: number;
  vers: number;
  proc: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export interface Frame extends Header {
  payload: Buffer;
}

export class FrameError extends Error {
  override name = 'FrameError';
}

export function encodeFrame(h: Header, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  b.writeUInt32BE(HEADER_SIZE + payload.length, 0);
  b.writeUInt32BE(h.prog, 4);
  b.writeUInt32BE(h.vers, 8);
  b.writeInt32BE(h.proc, 12);
  b.writeInt32BE(h.type, 16);
  b.writeUInt32BE(h.serial >>> 0, 20);
  b.writeInt32BE(h.status, 24);
  payload.copy(b, HEADER_SIZE);
  return b;
}

/** A CALL frame of the remote program. */
export const callFrame = (proc: number, serial: number, payload?: Buffer): Buffer =>
  encodeFrame({ prog: REMOTE_PROGRAM, vers: PROTOCOL_VERSION, proc, type: MessageType.Call, serial, status: MessageStatus.Ok }, payload);

export const keepaliveFrame = (proc: typeof KEEPALIVE_PING | typeof KEEPALIVE_PONG): Buffer =>
  encodeFrame({ prog: KEEPALIVE_PROGRAM, vers: PROTOCOL_VERSION, proc, type: MessageType.Message, serial: 0, status: MessageStatus.Ok });

export function decodeFrame(b: Buffer): Frame {
  if (b.length < HEADER_SIZE) throw new FrameError(`frame of ${b.length} bytes is shorter than its header`);
  const length = b.readUInt32BE(0);
  if (length !== b.length) throw new FrameError(`frame says ${length} bytes but has ${b.length}`);
  return {
    prog: b.readUInt32BE(4),
    vers: b.readUInt32BE(8),
    proc: b.readInt32BE(12),
    type: b.readInt32BE(16),
    serial: b.readUInt32BE(20),
    status: b.readInt32BE(24),
    payload: b.subarray(HEADER_SIZE),
  };
}

/**
 * Reassembles frames from stream chunks. A length below the header size or
 * above MAX_FRAME means the stream is corrupt: FrameError, and the caller
 * drops the connection (nothing after it can be trusted).
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length < HEADER_SIZE || length > MAX_FRAME) throw new FrameError(`bad frame length ${length}`);
      if (this.buffered < length) break;
      out.push(decodeFrame(this.take(length)));
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.pending[0] as Buffer;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const all = this.peek(n);
    const frame = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length ? [rest] : [];
    this.buffered -= n;
    return frame;
  }
}

/** `remote_nonnull_domain` inside an error (always absent in practice, decoded for completeness). */
interface ErrorDomainRef {
  name: string;
  uuid: Buffer;
  id: number;
}

/** `remote_error` (virNetMessageError). */
export interface RemoteError {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  dom: ErrorDomainRef | null;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
  net: { name: string; uuid: Buffer } | null;
}

export function decodeRemoteError(payload: Buffer): RemoteError {
  const r = new XdrReader(payload);
  const str = (x: XdrReader) => x.string(STRING_MAX);
  const e: RemoteError = {
    code: r.int(),
    domain: r.int(),
    message: r.optional(str),
    level: r.int(),
    dom: r.optional((x) => ({ name: str(x), uuid: x.fixedOpaque(16), id: x.int() })),
    str1: r.optional(str),
    str2: r.optional(str),
    str3: r.optional(str),
    int1: r.int(),
    int2: r.int(),
    net: r.optional((x) => ({ name: str(x), uuid: x.fixedOpaque(16) })),
  };
  r.end();
  return e;
}

/** The inverse, for tests and fake servers. */
export function encodeRemoteError(e: Pick<RemoteError, 'code' | 'domain' | 'message'> & Partial<RemoteError>): Buffer {
  const w = new XdrWriter();
  const str = (x: XdrWriter, s: string) => x.string(s);
  w.int(e.code).int(e.domain).optional(e.message, str).int(e.level ?? 2);
  w.optional(e.dom, (x, d) => x.string(d.name).fixedOpaque(d.uuid).int(d.id));
  w.optional(e.str1, str).optional(e.str2, str).optional(e.str3, str);
  w.int(e.int1 ?? -1).int(e.int2 ?? -1);
  w.optional(e.net, (x, n) => x.string(n.name).fixedOpaque(n.uuid));
  return w.toBuffer();
}

