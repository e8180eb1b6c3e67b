// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The 512-byte tar header (ustar, with the old-GNU sparse fields) and pax
 * extended records: encoding for the writers, decoding for the reader.
 * Reference: POSIX pax(1) ustar/pax formats; GNU tar manual "Standard";
 * spec backup.md §2.2, §2.8.
 */
export const BLOCK = 512;
/** GNU tar's default record: each outer member archive is padded to it. */
export const RECORD = 10240;

export const ZERO_BLOCK = Buffer.alloc(BLOCK);

export const padLength = (n: number, to = BLOCK): number => (to - (n % to)) % to;

export interface HeaderFields {
  name: string;
  mode: number;
  uid?: number;
  gid?: number;
  size: number;
  mtime: number;
  type: string;
  uname?: string;
  gname?: string;
  linkname?: string;
  /** `ustar\0` + `00` (POSIX); the old-GNU `ustar  \0` when false. */
  posix?: boolean;
  prefix?: string;
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  const text = value.toString(8).padStart(width - 1, '0');
  if (text.length > width - 1) throw new RangeError(`tar field overflow: ${value}`);
  buf.write(text + '\0', offset, width, 'ascii');
}

/** One header block; the checksum is computed here. */
export function encodeHeader(f: HeaderFields): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(f.name, 0, 100, 'utf8');
  writeOctal(h, f.mode, 100, 8);
  writeOctal(h, f.uid ?? 0, 108, 8);
  writeOctal(h, f.gid ?? 0, 116, 8);
  writeOctal(h, f.size, 124, 12);
  writeOctal(h, f.mtime, 136, 12);
  h.write(f.type, 156, 1, 'ascii');
  if (f.linkname) h.write(f.linkname, 157, 100, 'utf8');
  if (f.posix === false) h.write('ustar  \0', 257, 8, 'ascii');
  else h.write('ustar\x0000', 257, 8, 'ascii');
  h.write(f.uname ?? '', 265, 32, 'utf8');
  h.write(f.gname ?? '', 297, 32, 'utf8');
  if (f.posix !== false) {
    writeOctal(h, 0, 329, 8);
    writeOctal(h, 0, 337, 8);
  }
  if (f.prefix) h.write(f.prefix, 345, 155, 'utf8');
  h.write('        ', 148, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** `"<len> <key>=<value>\n"`, the length counting the whole record. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length + bodyLen !== len) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

/** Pax records text → map (later keys win); malformed records are an error. */
export function parsePaxRecords(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < buf.length) {
    if (buf[at] === 0) break;
    const sp = buf.indexOf(0x20, at);
    if (sp < 0) throw new Error('malformed pax record');
    const len = Number(buf.subarray(at, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= sp - at + 1 || at + len > buf.length || buf[at + len - 1] !== 0x0a) throw new Error('malformed pax record');
    const rec = buf.subarray(sp + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq < 0) throw new Error('malformed pax record');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

/** A numeric field: octal text, or GNU base-256 (high bit set). */
export function readNumber(buf: Buffer, offset: number, width: number): number {
  const first = buf[offset] as number;
  if (first & 0x80) {
    let n = first & 0x7f;
    for (let i = 1; i < width; i++) n = n * 256 + (buf[offset + i] as number);
    return n;
  }
  const text = buf.subarray(offset, offset + width).toString('ascii').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad number field '${text}'`);
  return parseInt(text, 8);
}

export const readString = (buf: Buffer, offset: number, width: number): string => {
  const s = buf.subarray(offset, offset + width);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? width : nul).toString('utf8');
};

/** Whether the stored checksum matches (signed or unsigned sum, as GNU tar accepts both). */
export function checksumOk(h: Buffer): boolean {
  let stored: number;
  try {
    stored = readNumber(h, 148, 8);
  } catch {
    return false;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}
