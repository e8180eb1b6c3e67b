// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The qubesd wire format, bytes in and bytes out, no I/O.
 *
 * Request (then the client half-closes): `METHOD[+ARG] SRC DESTTYPE DEST`
 * NUL payload, at most MAX_REQUEST_BYTES in all. `keyword adminvm` is the
 * same as `name dom0`; any other destination type is a framing error.
 *
 * Replies: `0\0` + body (success), `1\0` + subject NUL event NUL
 * (key NUL value NUL)* NUL (one event of a stream), `2\0` + class NUL
 * traceback NUL message NUL (an error; the traceback is empty unless the
 * daemon runs with --debug).
 *
 * Reference: qubes-core-admin: qubes/api/__init__.py (QubesDaemonProtocol);
 * shared/spec/vmm.md §5.2.
 */

/** The reference's buffer size: one byte more and the connection is dropped. */
export const MAX_REQUEST_BYTES = 65536;

export interface Request {
  method: string;
  /** '' when the method name had no `+`. */
  arg: Buffer;
  src: Buffer;
  dest: Buffer;
  payload: Buffer;
}

const NUL = 0;
const SPACE = 0x20;
const PLUS = 0x2b;

/**
 * Split a whole request; null for a framing error (no NUL, fewer than four
 * header words, a destination type other than `name`), which the caller
 * answers by dropping the connection without a reply, as the reference.
 * The method name and argument stay bytes: their checks (ASCII, known
 * method) answer with an error reply, not a drop.
 */
export function parseRequest(buf: Buffer): (Omit<Request, 'method'> & { method: Buffer }) | null {
  const nul = buf.indexOf(NUL);
  if (nul < 0) return null;
  const header = buf.subarray(0, nul);
  // split(b" ", 3): the last field keeps any further spaces
  const words: Buffer[] = [];
  let start = 0;
  while (words.length < 3) {
    const sp = header.indexOf(SPACE, start);
    if (sp < 0) return null;
    words.push(header.subarray(start, sp));
    start = sp + 1;
  }
  const [methArg, src, destType] = words as [Buffer, Buffer, Buffer];
  let dest = header.subarray(start);
  if (destType.equals(Buffer.from('keyword')) && dest.equals(Buffer.from('adminvm'))) dest = Buffer.from('dom0');
  else if (!destType.equals(Buffer.from('name'))) return null;
  const plus = methArg.indexOf(PLUS);
  const method = plus < 0 ? methArg : methArg.subarray(0, plus);
  const arg = plus < 0 ? Buffer.alloc(0) : methArg.subarray(plus + 1);
  return { method, arg, src, dest, payload: buf.subarray(nul + 1) };
}

export function okReply(body: string | Buffer | undefined): Buffer {
  return Buffer.concat([Buffer.from('0\0'), typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? Buffer.alloc(0))]);
}

/** An error reply: the class name the client looks up, the traceback (debug only), the message. */
export function errorReply(className: string, message: string, traceback = ''): Buffer {
  return Buffer.from(`2\0${className}\0${traceback}\0${message}\0`, 'utf8');
}

/** Event kwargs in the order given; values already text. */
export type EventFields = [string, string][];

/** One event frame; `subject` '' is the system itself (the reference's app). */
export function eventFrame(subject: string, event: string, fields: EventFields = []): Buffer {
  return Buffer.from(`1\0${subject}\0${event}\0${fields.map(([k, v]) => `${k}\0${v}\0`).join('')}\0`, 'utf8');
}
