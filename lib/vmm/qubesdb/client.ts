// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A client of one QubesDB daemon (a qube's, from dom0), speaking the wire
 * protocol of protocol.ts over the daemon's Unix socket.
 *
 * Semantics follow the reference client library:
 *   - the read-write socket is tried first, then the read-only one; if
 *     neither answers, `DisconnectedError`;
 *   - commands run one at a time, in call order;
 *   - `read` of a missing key gives null; `rm` and `unwatch` of a missing
 *     path succeed;
 *   - watch events (RESP_WATCH) may arrive at any point, even inside a
 *     LIST or MULTIREAD answer; they are queued for `readWatch` in arrival
 *     order (the C library hands them out last-in first-out, a quirk not
 *     kept);
 *   - when the daemon closes the connection, the command waiting for its
 *     answer and every `readWatch` fail with `DisconnectedError`, and the
 *     next command connects again (once; a command whose connection turns
 *     out to be closed before any answer arrived is sent again on a new
 *     one). Watches are not registered again after a reconnection, as in
 *     the reference: a caller watching paths treats `DisconnectedError` as
 *     the end of its watch.
 *
 * Reference: qubes-core-qubesdb: client/qdb-client.c, python/qubesdb.c;
 * shared/spec/vmm.md §1.7, §4.4, §4.5.
 */
import type net from 'node:net';
import type { Env } from '../../config.js';
import { DisconnectedError, QubesDbError } from '../../errors.js';
import { daemonLabel, socketDir, socketPaths, type SocketPaths } from './paths.js';
import { clientPathProblem, encodeFrame, FrameReader, MsgType, QDB_MAX_DATA, type Frame } from './protocol.js';
import { connectUnix, errnoCode } from './unix-socket.js';

export interface QubesDbClientOptions {
  /** Directory of the sockets (default: `QUBESDB_SOCKET_DIR`, else /var/run/qubes). */
  socketDir?: string;
  env?: Env;
}

/** Consumes the frames of one answer: a result when complete, undefined while more are due. */
type Collector<T> = (f: Frame) => T | undefined;

interface Pending {
  frames: number;
  onFrame(f: Frame): void;
  fail(e: Error): void;
}

interface WatchWaiter {
  resolve(path: string): void;
  reject(e: Error): void;
}

export class QubesDbClient {
  private sock: net.Socket | null = null;
  private reader = new FrameReader();
  private pending: Pending | null = null;
  private readonly events: string[] = [];
  private readonly waiters: WatchWaiter[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    /** The qube whose daemon this talks to (null: the local daemon). */
    readonly name: string | null,
    private readonly paths: SocketPaths,
  ) {}

  /**
   * Connect to the daemon of qube `name` (null: the local daemon).
   * @throws DisconnectedError when no daemon answers
   */
  static async open(name: string | null, opts: QubesDbClientOptions = {}): Promise<QubesDbClient> {
    const c = new QubesDbClient(name, socketPaths(opts.socketDir ?? socketDir(opts.env ?? {}), name));
    await c.connect();
    return c;
  }

  get connected(): boolean {
    return this.sock !== null;
  }

  private async connect(): Promise<void> {
    let firstError: unknown;
    for (const p of [this.paths.rw, this.paths.ro]) {
      try {
        this.attach(await connectUnix(p));
        return;
      } catch (e) {
        firstError ??= e;
      }
    }
    throw new DisconnectedError(`${daemonLabel(this.name)} is not running (${this.paths.rw}: ${errnoCode(firstError)})`);
  }

  private attach(sock: net.Socket): void {
    this.sock = sock;
    this.reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => this.onData(sock, chunk));
    sock.on('error', () => {}); // 'close' follows and says what matters
    sock.on('end', () => this.detach(sock));
    sock.on('close', () => this.detach(sock));
  }

  private lost(): DisconnectedError {
    return new DisconnectedError(`connection to ${daemonLabel(this.name)} was lost`);
  }

  private detach(sock: net.Socket): void {
    if (this.sock !== sock) return;
    this.sock = null;
    sock.destroy();
    const p = this.pending;
    this.pending = null;
    p?.fail(this.lost());
    for (const w of this.waiters.splice(0)) w.reject(this.lost());
  }

  private onData(sock: net.Socket, chunk: Buffer): void {
    if (this.sock !== sock) return;
    for (const f of this.reader.push(chunk)) {
      if (f.oversized) {
        const p = this.pending;
        this.pending = null;
        p?.fail(new QubesDbError(`${daemonLabel(this.name)} sent a message of ${f.dataLen} bytes`));
        this.detach(sock);
        return;
      }
      if (f.type === MsgType.RESP_WATCH) this.deliverWatch(f.path);
      else if (this.pending) {
        this.pending.frames++;
        this.pending.onFrame(f);
      }
    }
  }

  private deliverWatch(path: string): void {
    const w = this.waiters.shift();
    if (w) w.resolve(path);
    else this.events.push(path);
  }

  /** Run one command after the ones already queued. */
  private command<T>(frame: Buffer, collect: Collector<T>): Promise<T> {
    const go = () => this.exchange(frame, collect, true);
    const p = this.queue.then(go, go);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async exchange<T>(frame: Buffer, collect: Collector<T>, mayResend: boolean): Promise<T> {
    if (this.closed) throw new QubesDbError(`the connection to ${daemonLabel(this.name)} was closed`);
    const fresh = !this.sock;
    if (fresh) await this.connect();
    const sock = this.sock as net.Socket;
    let answered = false;
    try {
      return await new Promise<T>((resolve, reject) => {
        this.pending = {
          frames: 0,
          onFrame: (f) => {
            answered = true;
            try {
              const r = collect(f);
              if (r === undefined) return;
              this.pending = null;
              resolve(r);
            } catch (e) {
              this.pending = null;
              reject(e as Error);
            }
          },
          fail: reject,
        };
        sock.write(frame);
      });
    } catch (e) {
      // The daemon had closed this connection before reading the command
      // (it drops a client after some errors): send it once more on a new one.
      if (e instanceof DisconnectedError && !answered && !fresh && mayResend) return this.exchange(frame, collect, false);
      throw e;
    }
  }

  private unexpected(f: Frame, what: string): QubesDbError {
    return new QubesDbError(`unexpected answer (type ${f.type}) from ${daemonLabel(this.name)} to ${what}`);
  }

  private checkPath(path: string): void {
    const problem = clientPathProblem(path);
    if (problem) throw new QubesDbError(problem);
  }

  /** The value of `path` as bytes, or null when there is no such entry. */
  async readBytes(path: string): Promise<Buffer | null> {
    this.checkPath(path);
    return this.command(encodeFrame(MsgType.CMD_READ, path), (f) => {
      if (f.type === MsgType.RESP_READ) return f.data;
      if (f.type === MsgType.RESP_ERROR_NOENT) return null;
      if (f.type === MsgType.RESP_ERROR) throw new QubesDbError(`${daemonLabel(this.name)} refused to read ${path}`);
      throw this.unexpected(f, `read ${path}`);
    });
  }

  /** The value of `path` (UTF-8), or null when there is no such entry. */
  async read(path: string): Promise<string | null> {
    return (await this.readBytes(path))?.toString('utf8') ?? null;
  }

  /** Create or replace an entry. Values hold at most 3071 bytes and no NUL (the daemon refuses others). */
  async write(path: string, value: string | Buffer): Promise<void> {
    this.checkPath(path);
    const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (data.length > QDB_MAX_DATA) throw new QubesDbError(`QubesDB value for ${path} longer than ${QDB_MAX_DATA} bytes`);
    await this.command(encodeFrame(MsgType.CMD_WRITE, path, data), (f) => {
      if (f.type === MsgType.RESP_OK) return true;
      if (f.type === MsgType.RESP_ERROR) throw new QubesDbError(`${daemonLabel(this.name)} refused to write ${path}`);
      throw this.unexpected(f, `write ${path}`);
    });
  }

  /** Simple commands: OK or NOENT is success. */
  private simple(type: number, path: string, what: string): Promise<void> {
    this.checkPath(path);
    return this.command(encodeFrame(type, path), (f) => {
      if (f.type === MsgType.RESP_OK || f.type === MsgType.RESP_ERROR_NOENT) return true;
      if (f.type === MsgType.RESP_ERROR) throw new QubesDbError(`${daemonLabel(this.name)} refused to ${what} ${path}`);
      throw this.unexpected(f, `${what} ${path}`);
    }).then(() => undefined);
  }

  /** Remove `path`, or with a trailing `/` everything below it; removing nothing is not an error. */
  rm(path: string): Promise<void> {
    return this.simple(MsgType.CMD_RM, path, 'remove');
  }

  /** Report changes of `path` (with a trailing `/`: of anything below it) through `readWatch`. */
  watch(path: string): Promise<void> {
    return this.simple(MsgType.CMD_WATCH, path, 'watch');
  }

  unwatch(path: string): Promise<void> {
    return this.simple(MsgType.CMD_UNWATCH, path, 'unwatch');
  }

  /** Paths starting with `prefix`, in the daemon's (sorted) order. */
  async list(prefix: string): Promise<string[]> {
    this.checkPath(prefix);
    const paths: string[] = [];
    return this.command(encodeFrame(MsgType.CMD_LIST, prefix), (f) => {
      if (f.type === MsgType.RESP_ERROR) throw new QubesDbError(`${daemonLabel(this.name)} refused to list ${prefix}`);
      if (f.type !== MsgType.RESP_LIST) throw this.unexpected(f, `list ${prefix}`);
      if (f.path === '') return paths;
      paths.push(f.path);
      return undefined;
    });
  }

  /** Entries below `prefix` with their values as bytes, in the daemon's order. */
  async multireadBytes(prefix: string): Promise<[string, Buffer][]> {
    this.checkPath(prefix);
    const entries: [string, Buffer][] = [];
    return this.command(encodeFrame(MsgType.CMD_MULTIREAD, prefix), (f) => {
      if (f.type === MsgType.RESP_ERROR) throw new QubesDbError(`${daemonLabel(this.name)} refused to read ${prefix}`);
      if (f.type !== MsgType.RESP_MULTIREAD) throw this.unexpected(f, `read ${prefix}`);
      if (f.path === '') return entries;
      entries.push([f.path, f.data]);
      return undefined;
    });
  }

  /** Entries below `prefix` with their values (UTF-8). */
  async multiread(prefix: string): Promise<Map<string, string>> {
    return new Map((await this.multireadBytes(prefix)).map(([p, v]) => [p, v.toString('utf8')]));
  }

  /**
   * The path of the next change a watch reported (changes already received
   * first).
   * @throws DisconnectedError when the connection is or gets lost
   */
  readWatch(): Promise<string> {
    const e = this.events.shift();
    if (e !== undefined) return Promise.resolve(e);
    if (!this.sock) return Promise.reject(this.closed ? new QubesDbError('QubesDB connection closed') : this.lost());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Close the connection; pending `readWatch` calls fail. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new QubesDbError('QubesDB connection closed'));
    const s = this.sock;
    if (s) this.detach(s);
  }
}
