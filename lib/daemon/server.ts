// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd's sockets and connections. Each socket serves one method table
 * (the Admin API on qubesd.sock; the internal and misc sockets have their
 * own). A connection is one request: bytes
 * until EOF (at most MAX_REQUEST_BYTES, within the request timeout), then
 * one reply, or an event stream until the client leaves, or nothing when
 * the reference would drop the connection.
 *
 * Sockets are made with umask 007 and given group `qubes` when it exists;
 * an existing socket is removed only when nobody answers on it. stop()
 * closes the sockets, lets requests in flight finish and ends event
 * streams.
 *
 * Reference: qubes-core-admin: qubes/api/__init__.py (QubesDaemonProtocol,
 * cleanup_socket, create_servers); shared/spec/vmm.md §5.1–5.2.
 */
import fs from 'node:fs';
import net from 'node:net';
import { QubesError } from '../errors.js';
import { qubesGid } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';
import { dispatch, type DispatchContext } from './dispatch.js';
import type { DaemonServices, MethodDecl } from './method.js';
import type { AdminPermission } from './permission.js';
import type { StoreView } from './store-view.js';
import { MAX_REQUEST_BYTES, parseRequest } from './wire.js';

export interface Log {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

export interface SocketSpec {
  path: string;
  table: ReadonlyMap<string, MethodDecl>;
  /** Who may call what on this socket (default: the daemon's Admin API permission). */
  permission?: AdminPermission;
}

export interface ServerOptions {
  sockets: SocketSpec[];
  view: StoreView;
  permission: AdminPermission;
  services: DaemonServices;
  debug: boolean;
  requestTimeoutMs: number;
  /** Log every call (--log-dom0-call). */
  logCalls: boolean;
  log: Log;
}

/** Whether something answers on a UNIX socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(new QubesError(`Cannot check the socket ${path}: ${ioReason(e)}`));
    });
  });
}

/** Remove a socket left by a dead daemon; refuse one somebody still answers on. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!fs.existsSync(path)) return;
  if (await answers(path)) throw new QubesError(`socket already exists: '${path}' (another qubesd answers on it)`);
  fs.rmSync(path, { force: true });
}

/**
 * Connections the kernel queues before the daemon accepts them. On a Unix
 * socket a full queue makes connect() fail at once (EAGAIN) instead of
 * waiting: Node's default of 511 was met by a burst of dropped connections
 * on a busy machine, and the next honest client failed. The kernel caps it
 * at net.core.somaxconn (4096 by default).
 */
const BACKLOG = 4096;

function listen(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, backlog: BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

const describe = (b: Buffer) => JSON.stringify(b.subarray(0, 200).toString('latin1'));

export class QubesDaemon {
  private readonly servers: net.Server[] = [];
  /** The socket files this daemon made (and only those are removed at stop: another daemon's are not ours). */
  private readonly made: string[] = [];
  private readonly connections = new Set<net.Socket>();
  /** Requests being answered (not event streams): stop() waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly streams = new Set<net.Socket>();

  constructor(private readonly o: ServerOptions) {}

  async start(): Promise<void> {
    const old = process.umask(0o007);
    try {
      for (const s of this.o.sockets) {
        await clearStaleSocket(s.path);
        const server = net.createServer({ allowHalfOpen: true }, (conn) => this.accept(conn, s));
        await listen(server, s.path);
        this.servers.push(server);
        this.made.push(s.path);
        const gid = qubesGid();
        if (gid !== undefined) fs.chownSync(s.path, -1, gid);
      }
    } catch (e) {
      await this.stop();
      throw e instanceof QubesError ? e : new QubesError(`Cannot listen: ${ioReason(e)}`);
    } finally {
      process.umask(old);
    }
  }

  /** Stop listening, finish requests in flight, end event streams. */
  async stop(): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const p of this.made) fs.rmSync(p, { force: true });
    for (const c of this.connections) if (this.streams.has(c) || !c.readableEnded) c.destroy();
    await Promise.allSettled([...this.inFlight]);
    await Promise.all(closed);
  }

  /** Open connections (for tests and the log). */
  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(conn: net.Socket, socket: SocketSpec): void {
    this.connections.add(conn);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    let closedResolve!: () => void;
    const closed = new Promise<void>((resolve) => (closedResolve = resolve));
    conn.setTimeout(this.o.requestTimeoutMs, () => {
      if (done) return;
      this.o.log.warning('request not finished within the timeout');
      conn.destroy();
    });
    conn.on('error', () => conn.destroy());
    conn.on('close', () => {
      this.connections.delete(conn);
      this.streams.delete(conn);
      closedResolve();
    });
    conn.on('data', (d: Buffer) => {
      if (done) return;
      size += d.length;
      if (size > MAX_REQUEST_BYTES) {
        done = true;
        this.o.log.warning('request too long');
        conn.destroy();
        return;
      }
      chunks.push(d);
    });
    conn.on('end', () => {
      if (done) return;
      done = true;
      conn.setTimeout(0);
      const buf = Buffer.concat(chunks, size);
      const req = parseRequest(buf);
      if (!req) {
        this.o.log.warning('framing error');
        conn.destroy();
        return;
      }
      const what = () => `${describe(req.method)}+${describe(req.arg)} (${describe(req.src)} → ${describe(req.dest)}) with payload of ${req.payload.length} bytes`;
      if (this.o.logCalls) this.o.log.info(`received call ${what()}`);
      const ctx: DispatchContext = {
        view: this.o.view,
        table: socket.table,
        permission: socket.permission ?? this.o.permission,
        services: this.o.services,
        debug: this.o.debug,
        sendFrame: (frame) => {
          this.streams.add(conn);
          if (!conn.destroyed) conn.write(frame);
        },
        closed,
      };
      const work = dispatch(req, ctx).then((outcome) => {
        if ('reply' in outcome) {
          if (outcome.refused) this.o.log.warning(`failed call ${what()}: ${outcome.refused}`);
          if (!conn.destroyed) conn.end(outcome.reply);
          return;
        }
        if ('drop' in outcome) {
          const detail = outcome.error instanceof Error ? `\n${outcome.error.stack ?? outcome.error.message}` : '';
          if (outcome.error !== undefined) this.o.log.error(`failed call ${what()}: ${outcome.reason}${detail}`);
          else this.o.log.warning(`failed call ${what()}: ${outcome.reason}`);
        }
        conn.destroy();
      });
      this.inFlight.add(work);
      void work.finally(() => this.inFlight.delete(work));
    });
  }
}
