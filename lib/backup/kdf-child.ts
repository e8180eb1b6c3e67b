// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The program of the key derivation process (started by kdf-process.ts,
 * with Node's own binary, over an IPC channel): it derives scrypt keys as
 * asked and sends them back. It lives only as long as the channel: when
 * the command closes it, ends or is killed (kill -9 included), the channel
 * closes and this process kills itself at once, also in the middle of a
 * derivation (process.exit would wait for the thread pool), so no orphan
 * keeps 1 GiB. SIGINT and SIGTERM are the command's to handle (a Ctrl-C
 * reaches the whole process group): the command cancels and closes the
 * channel.
 *
 * Messages: in {id, password, salt (base64), N, r, p, maxmem}; out {id,
 * key (base64)} or {id, error}.
 */
import crypto from 'node:crypto';

interface Request {
  id: number;
  password: string;
  salt: string;
  N: number;
  r: number;
  p: number;
  maxmem: number;
}

const send = (m: object): void => {
  process.send?.(m);
};

const die = (): void => {
  process.kill(process.pid, 'SIGKILL');
};

if (!process.send) die();
process.on('disconnect', die);
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('message', (m: Request) => {
  // async: the main thread stays free to see the channel close
  crypto.scrypt(Buffer.from(m.password, 'base64'), Buffer.from(m.salt, 'base64'), 64, { N: m.N, r: m.r, p: m.p, maxmem: m.maxmem }, (err, key) => {
    send(err ? { id: m.id, error: err.message } : { id: m.id, key: key.toString('base64') });
  });
});
