// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One libvirt RPC connection over a UNIX socket: frames out through one
 * write each, frames in through FrameDecoder, replies matched to calls by
 * serial (they may come out of order, with events between them), event
 * MESSAGEs handed to a listener, keepalive PINGs answered with PONGs.
 *
 * A dropped connection (EOF, reset, a corrupt frame, or silence past the
 * keepalive limit) rejects every waiting call with TransportClosedError
 * and is final: the API layer opens a new transport.
 *
 * The socket keeps the process alive only while a call waits for its
 * reply or a holder (an event subscription) wants it; otherwise a command
 * may end without closing the connection.
 *
 * Reference: go-libvirt socket/socket.go, rpc.go; shared/spec/libvirt-rpc.md
 * §1.3, §3.4, §3.5, §6.
 */
import type net from 'node:net';
import {
  FrameDecoder,
  KEEPALIVE_PING,
  KEEPALIVE_PONG,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  REMOTE_PROGRAM,
  callFrame,
  decodeRemoteError,
  keepaliveFrame,
  type Frame,
  type RemoteError,
} from './protocol.js';

/** The daemon answered a call with an error (status ERROR). */
export class RemoteCallError extends Error {
  override name = 'RemoteCallError';
  constructor(readonly remote: RemoteError) {
    super(remote.message ?? `libvirt error ${remote.code}`);
  }
}

/** The transport is gone; `sent` says whether the call had been written before that. */
export class TransportClosedError extends Error {
  override name = 'TransportClosedError';
  constructor(
    message: string,
    readonly sent: boolean,
  ) {
    super(message);
  }
}

/** Could not reach the socket at all (the errno code is kept for the message). */
export class SocketConnectError extends Error {
  override name = 'SocketConnectError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface KeepaliveSettings {
  /** Ping the daemon after this much silence while waiting (ms). */
  intervalMs: number;
  /** Give up after interval × (count + 1) without any frame while waiting. */
  count: number;
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (e: Error) => void;
}

export class RpcTransport {
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new FrameDecoder();
  private serial = 0;
  private holds = 0;
  private referenced = true;
  private closedBy: Error | undefined;
  private lastRx = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private readonly closeListeners: ((why: Error) => void)[] = [];

  private constructor(
    private readonly socket: net.Socket,
    private readonly onEvent: (frame: Frame) => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) =>
      this.fail(new TransportClosedError(['ECONNRESET', 'EPIPE'].includes(e.code ?? '') ? 'the daemon closed the connection' : `socket error: ${e.message}`, true)),
    );
    socket.on('close', () => this.fail(new TransportClosedError('the daemon closed the connection', true)));
    this.updateRef();
  }

  /**
   * Connect to a UNIX socket.
   * @throws SocketConnectError (missing socket, refused, no permission, timeout)
   */
  static async connect(path: string, timeoutMs: number, onEvent: (frame: Frame) => void): Promise<RpcTransport> {
    // Loaded here, not with the module: commands that never connect (offline) do not pay for Node's net modules.
    const { createConnection } = (await import('node:net')).default;
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SocketConnectError(`no answer from ${path} within ${Math.round(timeoutMs / 1000)} s`, 'ETIMEDOUT'));
      }, timeoutMs);
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new SocketConnectError(describeConnectError(path, e), e.code));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcTransport(socket, onEvent));
      });
    });
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** Called once when the transport closes for any reason. */
  onClose(listener: (why: Error) => void): void {
    this.closeListeners.push(listener);
  }

  /** Send a CALL of the remote program; resolves with the reply payload. */
  call(proc: number, payload: Buffer): Promise<Buffer> {
    if (this.closedBy) return Promise.reject(new TransportClosedError(this.closedBy.message, false));
    this.serial = (this.serial + 1) >>> 0;
    const serial = this.serial;
    const p = new Promise<Buffer>((resolve, reject) => this.pending.set(serial, { resolve, reject }));
    this.updateRef();
    this.socket.write(callFrame(proc, serial, payload));
    return p;
  }

  /** How many holders (event subscriptions) want the process kept alive for this connection. */
  setHolds(n: number): void {
    this.holds = n;
    this.updateRef();
  }

  /**
   * Watch the connection while someone waits on it: PING after `intervalMs`
   * of silence, give up after interval × (count + 1). The daemon answers
   * PINGs whether or not keepalive was negotiated.
   */
  startKeepalive(s: KeepaliveSettings): void {
    if (this.keepaliveTimer || this.closedBy) return;
    this.keepaliveTimer = setInterval(() => {
      if (!this.waiting()) return;
      const silent = Date.now() - this.lastRx;
      if (silent > s.intervalMs * (s.count + 1)) {
        this.fail(new TransportClosedError(`no answer from the daemon for ${Math.round(silent / 1000)} s`, true));
        this.socket.destroy();
      } else if (silent >= s.intervalMs) this.socket.write(keepaliveFrame(KEEPALIVE_PING));
    }, s.intervalMs);
    this.keepaliveTimer.unref();
  }

  /** Drop the connection now (waiting calls fail). */
  destroy(why = 'connection closed by the client'): void {
    this.fail(new TransportClosedError(why, true));
    this.socket.destroy();
  }

  private waiting(): boolean {
    return this.pending.size > 0 || this.holds > 0;
  }

  private updateRef(): void {
    const want = !this.closedBy && this.waiting();
    if (want === this.referenced) return;
    this.referenced = want;
    if (want) this.socket.ref();
    else this.socket.unref();
  }

  private receive(chunk: Buffer): void {
    this.lastRx = Date.now();
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.destroy(`corrupt data from the daemon: ${(e as Error).message}`);
      return;
    }
    for (const f of frames) this.dispatch(f);
  }

  private dispatch(f: Frame): void {
    if (f.prog === KEEPALIVE_PROGRAM) {
      if (f.proc === KEEPALIVE_PING && !this.closedBy) this.socket.write(keepaliveFrame(KEEPALIVE_PONG));
      return;
    }
    if (f.prog !== REMOTE_PROGRAM) return;
    if (f.type === MessageType.Message) {
      this.onEvent(f);
      return;
    }
    if (f.type !== MessageType.Reply) return;
    const p = this.pending.get(f.serial);
    if (!p) return;
    this.pending.delete(f.serial);
    this.updateRef();
    if (f.status === MessageStatus.Error) {
      let remote: RemoteError;
      try {
        remote = decodeRemoteError(f.payload);
      } catch (e) {
        p.reject(new TransportClosedError(`unreadable error reply: ${(e as Error).message}`, true));
        return;
      }
      p.reject(new RemoteCallError(remote));
    } else p.resolve(f.payload);
  }

  private fail(why: TransportClosedError): void {
    if (this.closedBy) return;
    this.closedBy = why;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(why);
    this.updateRef();
    for (const l of this.closeListeners) l(why);
  }
}

function describeConnectError(path: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return `${path} does not exist`;
    case 'ECONNREFUSED':
      return `nobody listens on ${path}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}`;
    default:
      return `${path}: ${e.message}`;
  }
}
