// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * QubesDB test helpers: a socket directory of its own per test file,
 * daemons started through the built bin/qubesdb-daemon (and stopped by
 * their recorded pid only), and a raw connection for protocol-level checks.
 */
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encodeFrame, FrameReader, type Frame } from '../../lib/vmm/qubesdb/protocol.js';
import { connectUnix } from '../../lib/vmm/qubesdb/unix-socket.js';
import { run, type RunResult } from '../helpers.js';

export interface QdbDir {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Start the daemon of `name` (exit status of the forking command). */
  start(name: string, xid?: number, extra?: string[]): RunResult;
  /** SIGTERM the daemon of `name` (by its pid file) and wait until it is gone. */
  stop(name: string | null): Promise<void>;
  pidOf(name: string | null): number;
  sock(name: string | null, ro?: boolean): string;
  /** Stop every daemon still running and remove the directory. */
  cleanup(): Promise<void>;
}

/**
 * Whether the process still runs. A zombie waiting for a slow init to reap
 * it does not, once its other threads are gone too (they close its files).
 */
export function alive(pid: number): boolean {
  try {
    const zombie = /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return !zombie || fs.readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function qdbDir(): QdbDir {
  // short: Unix socket paths hold at most 107 bytes
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qdb-'));
  const env = { ...process.env, QUBESDB_SOCKET_DIR: dir };
  const base = (name: string | null) => path.join(dir, name === null ? 'qubesdb' : `qubesdb.${name}`);
  const started = new Set<number>();
  const d: QdbDir = {
    dir,
    env,
    start(name, xid = 7, extra = []) {
      const r = run('qubesdb-daemon', [...extra, String(xid), name], env);
      if (r.code === 0) started.add(d.pidOf(name));
      return r;
    },
    pidOf: (name) => Number(fs.readFileSync(`${base(name)}.pid`, 'utf8')),
    sock: (name, ro = false) => `${base(name)}${ro ? '.ro' : ''}.sock`,
    async stop(name) {
      const pid = d.pidOf(name);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !alive(pid));
      started.delete(pid);
    },
    async cleanup() {
      for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGTERM');
      await waitFor(() => [...started].every((p) => !alive(p)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return d;
}

/** A bare connection: send frames, take the frames that come back. */
export class RawConn {
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => this.frames.push(...this.reader.push(c)));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }
  static async open(file: string): Promise<RawConn> {
    return new RawConn(await connectUnix(file));
  }
  send(type: number, p: string, data?: Buffer | string): void {
    this.sock.write(encodeFrame(type, p, data));
  }
  sendRaw(b: Buffer): void {
    this.sock.write(b);
  }
  async take(n: number): Promise<Frame[]> {
    await waitFor(() => this.frames.length >= n || this.closed);
    if (this.frames.length < n) throw new Error(`connection closed after ${this.frames.length} of ${n} frames`);
    return this.frames.splice(0, n).map((f) => ({ type: f.type, path: f.path, dataLen: f.dataLen, data: f.data }));
  }
  async waitClosed(): Promise<void> {
    await waitFor(() => this.closed);
  }
  close(): void {
    this.sock.destroy();
  }
}
