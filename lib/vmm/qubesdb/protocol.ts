// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The QubesDB wire format, with no I/O: every message is a fixed 72-byte
 * header (`struct qdb_hdr` with natural C alignment) followed by
 * `data_len` bytes of data.
 *
 *   offset size field
 *        0    1 type
 *        1   64 path, NUL-terminated and NUL-padded (at most 63 bytes)
 *       65    3 padding (zero)
 *       68    4 data_len, unsigned, host byte order
 *
 * Reference: qubes-core-qubesdb: include/qubesdb.h, daemon/db-cmds.c
 * (verify_hdr, verify_path, verify_data), client/qdb-client.c
 * (verify_path); shared/spec/vmm.md §4.3.
 */
import os from 'node:os';

/** Message types (`enum qdb_msg`). */
export const MsgType = {
  CMD_READ: 0,
  CMD_WRITE: 1,
  CMD_MULTIREAD: 2,
  CMD_LIST: 3,
  CMD_RM: 4,
  CMD_WATCH: 5,
  CMD_UNWATCH: 6,
  RESP_OK: 7,
  RESP_ERROR_NOENT: 8,
  RESP_ERROR: 9,
  RESP_READ: 10,
  RESP_MULTIREAD: 11,
  RESP_LIST: 12,
  RESP_WATCH: 13,
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

export const HEADER_SIZE = 72;
/** Size of the path field, terminating NUL included: paths have at most 63 bytes. */
export const QDB_MAX_PATH = 64;
/** The client refuses longer values; the daemon refuses values this long or longer (3071 is the real maximum). */
export const QDB_MAX_DATA = 3072;

const TYPE_OFFSET = 0;
const PATH_OFFSET = 1;
const LEN_OFFSET = 68;
const LITTLE_ENDIAN = os.endianness() === 'LE';

export interface Header {
  type: number;
  /** The path bytes up to the first NUL (at most 63), one character per byte. */
  path: string;
  dataLen: number;
}

export interface Frame extends Header {
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Paths travel as bytes; latin1 maps each byte to one character and back. */
const pathBytes = (path: string): Buffer => Buffer.from(path, 'latin1');

/**
 * One message: header and data. The path is cut to the 63 bytes the field
 * holds (callers check lengths first when a cut would matter).
 */
export function encodeFrame(type: number, path: string, data: Buffer | string = EMPTY): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const buf = Buffer.alloc(HEADER_SIZE + body.length);
  buf.writeUInt8(type, TYPE_OFFSET);
  pathBytes(path).copy(buf, PATH_OFFSET, 0, QDB_MAX_PATH - 1);
  if (LITTLE_ENDIAN) buf.writeUInt32LE(body.length, LEN_OFFSET);
  else buf.writeUInt32BE(body.length, LEN_OFFSET);
  body.copy(buf, HEADER_SIZE);
  return buf;
}

/** Read a header; as the daemon does, the last byte of the path field is taken as its terminator. */
export function decodeHeader(buf: Buffer): Header {
  const field = buf.subarray(PATH_OFFSET, PATH_OFFSET + QDB_MAX_PATH - 1);
  const nul = field.indexOf(0);
  return {
    type: buf.readUInt8(TYPE_OFFSET),
    path: field.subarray(0, nul < 0 ? field.length : nul).toString('latin1'),
    dataLen: LITTLE_ENDIAN ? buf.readUInt32LE(LEN_OFFSET) : buf.readUInt32BE(LEN_OFFSET),
  };
}

/**
 * Splits a byte stream into messages. Data of `discardFrom` bytes or more
 * is skipped as it arrives instead of being buffered (an untrusted peer
 * may announce up to 4 GiB); such a frame comes out with `oversized`.
 */
export class FrameReader {
  private buf: Buffer = EMPTY;
  private header: Header | null = null;
  private skipping = 0;

  constructor(private readonly discardFrom: number = QDB_MAX_DATA) {}

  push(chunk: Buffer): (Frame & { oversized?: boolean })[] {
    const out: (Frame & { oversized?: boolean })[] = [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, this.buf.length);
        this.skipping -= n;
        this.buf = this.buf.subarray(n);
        if (this.skipping > 0) return out;
        continue;
      }
      if (!this.header) {
        if (this.buf.length < HEADER_SIZE) return out;
        const h = decodeHeader(this.buf);
        this.buf = this.buf.subarray(HEADER_SIZE);
        if (h.dataLen >= this.discardFrom) {
          this.skipping = h.dataLen;
          out.push({ ...h, data: EMPTY, oversized: true });
          continue;
        }
        this.header = h;
      }
      if (this.buf.length < this.header.dataLen) return out;
      const data = Buffer.from(this.buf.subarray(0, this.header.dataLen));
      this.buf = this.buf.subarray(this.header.dataLen);
      out.push({ ...this.header, data });
      this.header = null;
    }
  }
}

/** Characters the daemon accepts in a path (`verify_path`). */
const DAEMON_PATH_RE = /^[A-Za-z0-9_/.:@-]*$/;

/** Whether the daemon accepts this path in a request (an empty path is allowed: LIST and MULTIREAD of everything). */
export function daemonAcceptsPath(path: string): boolean {
  return path.length < QDB_MAX_PATH && DAEMON_PATH_RE.test(path) && !path.startsWith('-');
}

/** Why the client library refuses to send this path, or null (it checks only the form; the daemon checks the characters). */
export function clientPathProblem(path: string): string | null {
  if (!path.startsWith('/')) return `QubesDB path must start with '/': '${path}'`;
  if (Buffer.byteLength(path, 'utf8') >= QDB_MAX_PATH) return `QubesDB path longer than ${QDB_MAX_PATH - 1} bytes: '${path}'`;
  if (path.includes('\0')) return 'QubesDB path contains a NUL byte';
  return null;
}

/** Whether a path may name an entry (not only a prefix): absolute, no trailing `/` (`qubesdb_insert`). */
export const isEntryPath = (path: string): boolean => path.startsWith('/') && !path.endsWith('/') && path.length < QDB_MAX_PATH;

/** Values may hold any byte but NUL (`verify_data`). */
export const valueAccepted = (value: Buffer): boolean => value.length < QDB_MAX_DATA && !value.includes(0);
