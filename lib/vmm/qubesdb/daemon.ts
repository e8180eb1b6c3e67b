// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A QubesDB daemon compatible with the reference C daemon on its local
 * interface: it serves one database on a read-write and a read-only Unix
 * socket, to any number of clients, with watches. There is no vchan link to
 * a daemon inside the qube (that needs Xen); the database lives in memory
 * for as long as the daemon runs.
 *
 * Requests are handled as the reference does:
 *   - a header with an unknown type, a path with characters outside
 *     `[A-Za-z0-9_/.:@-]`, or data of 3072 bytes or more: its data is
 *     skipped and RESP_ERROR sent (the client stays connected);
 *   - WRITE of a value with a NUL byte: RESP_ERROR;
 *   - WRITE to a path that cannot name an entry (relative, ending in `/`):
 *     RESP_ERROR, then the client is disconnected;
 *   - READ with data: the client is disconnected;
 *   - WRITE and RM on the read-only socket: RESP_ERROR;
 *   - after a successful WRITE or RM, the OK goes out first, then one
 *     RESP_WATCH per matching watch (possibly to the writer itself);
 *   - a client's watches go away with its connection.
 *
 * When started for dom0 itself (remote domain 0 with a name), the local
 * socket names (qubesdb.sock) are symlinked to its own, as the reference
 * does, so tools without `-d` reach it.
 *
 * Reference: qubes-core-qubesdb: daemon/db-daemon.c, daemon/db-cmds.c;
 * shared/spec/vmm.md §4.1–§4.4.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { QubesError } from '../../errors.js';
import { QdbDatabase, WatchRegistry } from './database.js';
import { daemonLabel, socketPaths, type SocketPaths } from './paths.js';
import { daemonAcceptsPath, encodeFrame, FrameReader, MsgType, valueAccepted, type Frame } from './protocol.js';
import { socketAnswers } from './unix-socket.js';

export interface DaemonOptions {
  /** The qube whose dom0-side sockets this serves (null: the local daemon). */
  name: string | null;
  socketDir: string;
  /** Domain id of the other end; recorded only (there is no vchan). */
  remoteDomid: number;
  /** Mode of the read-write socket (default 0666). */
  rwSocketPerms?: number;
}

interface Client {
  sock: net.Socket;
  reader: FrameReader;
  readOnly: boolean;
}

const REQUESTS = new Set<number>([
  MsgType.CMD_READ,
  MsgType.CMD_WRITE,
  MsgType.CMD_MULTIREAD,
  MsgType.CMD_LIST,
  MsgType.CMD_RM,
  MsgType.CMD_WATCH,
  MsgType.CMD_UNWATCH,
]);

/** Make room for our socket: refuse when a daemon answers there, remove a leftover socket or link. */
async function claim(file: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSocket() && !st.isSymbolicLink()) throw new QubesError(`${file} exists and is not a socket`);
  if (await socketAnswers(file)) throw new QubesError(`a QubesDB daemon is already running on ${file}`);
  fs.rmSync(file, { force: true });
}

function listen(file: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export class QubesDbDaemon {
  readonly db = new QdbDatabase();
  readonly paths: SocketPaths;
  private readonly watches = new WatchRegistry<Client>();
  private readonly clients = new Set<Client>();
  private servers: net.Server[] = [];
  /** Sockets and links this daemon made (only those are removed at stop). */
  private files: string[] = [];

  constructor(readonly opts: DaemonOptions) {
    this.paths = socketPaths(opts.socketDir, opts.name);
  }

  get label(): string {
    return daemonLabel(this.opts.name);
  }

  /** Bind both sockets (and the dom0 links); resolves once clients can connect. */
  async start(): Promise<void> {
    fs.mkdirSync(this.opts.socketDir, { recursive: true });
    const local = this.opts.remoteDomid === 0 && this.opts.name !== null ? socketPaths(this.opts.socketDir, null) : null;
    for (const f of [this.paths.rw, this.paths.ro, ...(local ? [local.rw, local.ro] : [])]) await claim(f);
    try {
      this.servers.push(await listen(this.paths.rw, (s) => this.accept(s, false)));
      this.files.push(this.paths.rw);
      fs.chmodSync(this.paths.rw, this.opts.rwSocketPerms ?? 0o666);
      this.servers.push(await listen(this.paths.ro, (s) => this.accept(s, true)));
      this.files.push(this.paths.ro);
      fs.chmodSync(this.paths.ro, 0o666);
      if (local) {
        for (const [link, target] of [
          [local.rw, this.paths.rw],
          [local.ro, this.paths.ro],
        ] as const) {
          fs.symlinkSync(path.basename(target), link);
          this.files.push(link);
        }
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Stop listening, drop every client, remove the sockets and links. */
  async stop(): Promise<void> {
    const servers = this.servers.splice(0);
    for (const c of this.clients) c.sock.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    for (const f of this.files.splice(0)) fs.rmSync(f, { force: true });
  }

  private accept(sock: net.Socket, readOnly: boolean): void {
    const c: Client = { sock, reader: new FrameReader(), readOnly };
    this.clients.add(c);
    sock.on('error', () => {});
    sock.on('close', () => {
      this.clients.delete(c);
      this.watches.removeClient(c);
    });
    let dropped = false;
    sock.on('data', (chunk: Buffer) => {
      if (dropped) return;
      for (const f of c.reader.push(chunk)) {
        if (!this.handle(c, f)) {
          // end, not destroy: the error reply must still reach the client
          dropped = true;
          sock.end();
          return;
        }
      }
    });
  }

  private fire(changed: string): void {
    for (const c of this.watches.fired(changed)) c.sock.write(encodeFrame(MsgType.RESP_WATCH, changed));
  }

  /** Answer one request; false when the client is to be disconnected. */
  private handle(c: Client, f: Frame & { oversized?: boolean }): boolean {
    const reply = (type: number, p: string = f.path, data?: Buffer) => c.sock.write(encodeFrame(type, p, data));
    const error = () => {
      reply(MsgType.RESP_ERROR);
      return true;
    };
    if (f.oversized || !REQUESTS.has(f.type) || !daemonAcceptsPath(f.path)) return error();
    switch (f.type) {
      case MsgType.CMD_READ: {
        if (f.dataLen > 0) return false;
        const v = this.db.read(f.path);
        if (v) reply(MsgType.RESP_READ, f.path, v);
        else reply(MsgType.RESP_ERROR_NOENT);
        return true;
      }
      case MsgType.CMD_WRITE:
        if (c.readOnly || !valueAccepted(f.data)) return error();
        if (!this.db.write(f.path, f.data)) {
          reply(MsgType.RESP_ERROR);
          return false;
        }
        reply(MsgType.RESP_OK);
        this.fire(f.path);
        return true;
      case MsgType.CMD_RM:
        if (f.dataLen > 0 || c.readOnly) return error();
        if (!this.db.remove(f.path)) reply(MsgType.RESP_ERROR_NOENT);
        else {
          reply(MsgType.RESP_OK);
          this.fire(f.path);
        }
        return true;
      case MsgType.CMD_MULTIREAD:
        if (f.dataLen > 0) return error();
        for (const [p, v] of this.db.multiread(f.path)) reply(MsgType.RESP_MULTIREAD, p, v);
        reply(MsgType.RESP_MULTIREAD, '');
        return true;
      case MsgType.CMD_LIST:
        if (f.dataLen > 0) return error();
        for (const p of this.db.list(f.path)) reply(MsgType.RESP_LIST, p);
        reply(MsgType.RESP_LIST, '');
        return true;
      case MsgType.CMD_WATCH:
        if (f.dataLen > 0) return error();
        this.watches.add(f.path, c);
        reply(MsgType.RESP_OK);
        return true;
      default:
        if (f.dataLen > 0) return error();
        reply(this.watches.remove(f.path, c) ? MsgType.RESP_OK : MsgType.RESP_ERROR_NOENT);
        return true;
    }
  }
}
