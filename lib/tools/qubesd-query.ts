// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd-query: send one Admin API request to qubesd and copy its reply,
 * as it comes (the `0\0`, `1\0` or `2\0` header included), to standard
 * output. The payload is standard input (at most 65536 bytes, or
 * --max-bytes), one line of printable ASCII with --single-line (at most
 * 1024 bytes, the newline not sent), or nothing with --empty. The exit code
 * is 0, or with --fail the reply's type digit (0 success, 1 events,
 * 2 error; 1 when the reply does not start with a digit).
 *
 * Reference: qubes-core-admin: qubes/tools/qubesd_query.py;
 * shared/spec/vmm.md §5.3.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { QUBESD_SOCKET, qubesdSocketDir } from '../config.js';
import { QubesError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { MAX_REQUEST_BYTES } from '../daemon/wire.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesd-query',
  summary: 'low-level qubesd interrogation tool',
  args: [
    { name: 'SRC', description: 'source qube' },
    { name: 'METHOD', description: 'method name' },
    { name: 'DEST', description: 'destination qube', kind: 'vm' },
    { name: 'ARGUMENT', description: 'argument to method', optional: true },
  ],
  options: [
    { flags: '-c, --connect <PATH>', description: 'path to qubesd UNIX socket (default: $QUBESD_SOCKET_DIR/qubesd.sock, /var/run/qubesd.sock)' },
    { flags: '-e, --empty', description: 'do not read from stdin and send empty payload' },
    { flags: '--fail', description: 'exit with the reply type (0 OK, 1 event, 2 error) instead of 0' },
    { flags: '--max-bytes <N>', description: 'maximum number of bytes to read from stdin' },
    { flags: '--single-line', description: 'only read a single line of input' },
    { flags: '--null', description: 'print an extra NUL byte; useful for shell scripts' },
  ],
};

interface Opts {
  connect?: string;
  empty?: boolean;
  fail?: boolean;
  maxBytes?: string;
  singleLine?: boolean;
  null?: boolean;
}

/** Read one line from fd 0 a byte at a time (nothing after the newline is consumed), printable ASCII only. */
function readSingleLine(max: number): Buffer {
  const out: number[] = [];
  const one = Buffer.alloc(1);
  for (let i = 0; i < max; i++) {
    const n = readStdin(one, 0, 1);
    if (n === 0) throw new UsageError('End of input without a newline');
    const c = one[0] as number;
    if (c === 10) return Buffer.from(out);
    if (c < 0x20 || c > 0x7e) throw new UsageError(`Invalid byte ${c} in input`);
    out.push(c);
  }
  throw new UsageError(`No newline found in first ${max} bytes`);
}

/** One read of descriptor 0 into `buf`; waits when the descriptor is non-blocking and has nothing yet. */
function readStdin(buf: Buffer, offset: number, length: number): number {
  for (;;) {
    try {
      return fs.readSync(0, buf, offset, length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      if (code === 'EOF') return 0;
      throw new QubesError(`cannot read standard input: ${ioReason(e)}`);
    }
  }
}

/**
 * All of standard input, refusing more than `max` bytes. Read from
 * descriptor 0 directly (one byte more than the limit at most, as the
 * reference): the payload is bytes, and nothing is left for anyone else.
 */
function readPayload(max: number): Buffer {
  const buf = Buffer.alloc(MAX_REQUEST_BYTES + 1);
  let size = 0;
  while (size < buf.length) {
    const n = readStdin(buf, size, buf.length - size);
    if (n === 0) break;
    size += n;
  }
  if (size > max) throw new UsageError(`Payload too long (max ${max})`);
  return buf.subarray(0, size);
}

/** Write the reply's bytes as they come to descriptor 1; false once its reader is gone. */
function writeStdout(b: Uint8Array): boolean {
  try {
    for (let off = 0; off < b.length; ) off += fs.writeSync(1, b, off, b.length - off);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return false;
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return writeStdout(b);
    throw new QubesError(`cannot write to standard output: ${ioReason(e)}`);
  }
}

/** Send the request, copy the reply; the reply's first byte as a number, or 1 when it is not a digit. */
function query(socket: string, request: Buffer, out: (b: Uint8Array) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let first: number | undefined;
    const conn = net.connect(socket);
    const stop = () => {
      conn.destroy();
      resolve(1);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    conn.on('connect', () => conn.end(request));
    conn.on('data', (d: Buffer) => {
      if (first === undefined) {
        const c = d[0] as number;
        first = c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
        if (first < 0) {
          conn.destroy();
          return;
        }
      }
      if (!out(d)) conn.destroy();
    });
    conn.on('error', (e) => reject(new QubesError(`cannot talk to qubesd at ${socket}: ${ioReason(e)}`)));
    conn.on('close', () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(first === undefined || first < 0 ? 1 : first);
    });
  });
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const [src, method, dest, arg = ''] = args as [string, string, string, string?];
  let max = opts.singleLine ? 1024 : MAX_REQUEST_BYTES;
  if (opts.maxBytes !== undefined) {
    if (!/^\d+$/.test(opts.maxBytes)) throw new UsageError(`argument --max-bytes: invalid int value: '${opts.maxBytes}'`);
    const n = Number(opts.maxBytes);
    if (n > MAX_REQUEST_BYTES) throw new UsageError(`Maximum payload too large (max ${max})`);
    max = n;
  }
  let payload: Buffer = Buffer.alloc(0);
  if (!opts.empty) payload = opts.singleLine ? readSingleLine(max) : readPayload(max);
  const socket = opts.connect ?? path.join(qubesdSocketDir(ctx.env), QUBESD_SOCKET);
  // As the reference: always `METHOD+ARG`, the `+` even when the argument is empty.
  const request = Buffer.concat([Buffer.from(`${method}+${arg} ${src} name ${dest}\0`, 'latin1'), payload]);
  const code = await query(socket, request, writeStdout);
  if (opts.fail) return code;
  if (opts.null) writeStdout(Buffer.from([0]));
  return 0;
}
