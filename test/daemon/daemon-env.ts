// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A real qubesd for tests: bin/qubesd on a copy of a store vector, its
 * sockets in the store's temporary directory, offline; raw requests over
 * its socket, and Qubes' own client tools (run-tool.py) against it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, tmpStore, type TmpStore } from '../helpers.js';
import type { LiveStore } from '../vmm/live-store.js';

export const REFERENCE_CLIENT = path.resolve(ROOT, '..', 'shared', 'reference-client', 'run-tool.py');
/** Debian's python3, which has the client's modules (scripts/test.sh installs them). */
export const PYTHON = '/usr/bin/python3';

/** What the reference client needs that may be missing here (for testWithout). */
export function clientMissing(): string[] {
  const r = spawnSync(PYTHON, ['-c', 'import lxml, yaml, tqdm'], { stdio: 'ignore' });
  return r.status === 0 ? [] : ['python3-lxml, python3-yaml, python3-tqdm'];
}

export interface Daemon {
  store: TmpStore;
  socket: string;
  proc: ChildProcess;
  /** What the daemon wrote to stderr so far. */
  log(): string;
  /** One raw request; the whole reply (empty when dropped). */
  raw(request: Buffer): Promise<Buffer>;
  /** `METHOD+ARG dom0 name DEST` NUL payload; the whole reply. */
  call(method: string, dest?: string, arg?: string, payload?: Buffer | string, src?: string): Promise<Buffer>;
  /** SIGTERM, wait for the exit; its exit code. */
  stop(): Promise<number | null>;
}

function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > until) return reject(new Error(`timed out waiting: ${what()}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

export function rawRequest(socket: string, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect(socket, () => c.end(request));
    c.on('data', (d) => chunks.push(d));
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
    c.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

export const request = (method: string, dest: string, arg = '', payload: Buffer | string = '', src = 'dom0'): Buffer =>
  Buffer.concat([Buffer.from(`${method}${arg ? `+${arg}` : ''} ${src} name ${dest}\0`), Buffer.from(payload)]);

/** Start qubesd on a copy of `vectorRel` (or on `store`), and wait until it listens. */
export async function startDaemon(vectorRel: string, o: { store?: TmpStore; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<Daemon> {
  const store = o.store ?? tmpStore(vectorRel);
  fs.chmodSync(store.xml, 0o644);
  const env = { ...store.env, QUBESD_SOCKET_DIR: store.dir, QUBES_NO_CODE_CACHE: '1', ...o.env };
  store.env = env;
  const socket = path.join(store.dir, 'qubesd.sock');
  const proc = spawn(path.join(ROOT, 'bin', 'qubesd'), o.args ?? [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d) => (log += d));
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve((exited = code))));
  await waitFor(() => log.includes('listening') || exited !== undefined, 15000, () => log);
  if (exited !== undefined) throw new Error(`qubesd exited ${exited}: ${log}`);
  return {
    store,
    socket,
    proc,
    log: () => log,
    raw: (req) => rawRequest(socket, req),
    call: (method, dest = 'dom0', arg = '', payload = '', src = 'dom0') => rawRequest(socket, request(method, dest, arg, payload, src)),
    stop: async () => {
      if (exited === undefined) proc.kill('SIGTERM');
      return exit;
    },
  };
}

/** qubesd on a store for QEMU qubes (test/vmm/live-store.ts), which removeLiveStore removes (with its loop file system) after the daemon stopped. */
export function startDaemonOnLiveStore(store: LiveStore): Promise<Daemon> {
  const dir = store.lfs.dir;
  const xml = path.join(dir, 'qubes.xml');
  return startDaemon('', { store: { dir, xml, env: store.env, read: () => fs.readFileSync(xml, 'utf8'), remove: () => undefined } });
}

/** Stop a daemon of startDaemonOnLiveStore and remove its sockets; its exit code (undefined: none was started). */
export async function stopDaemonOnLiveStore(d: Daemon | undefined, store: LiveStore | undefined): Promise<number | null | undefined> {
  const code = d ? await d.stop() : undefined;
  for (const f of ['qubesd.sock', 'qubesd.internal.sock', 'qubesd.misc.sock']) fs.rmSync(path.join(store?.lfs.dir ?? '/nonexistent', f), { force: true });
  return code;
}

/** Run one of Qubes' own client tools against the daemon. */
export function referenceTool(d: Daemon, tool: string, args: string[], input = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, [REFERENCE_CLIENT, tool, ...args], {
    env: { ...process.env, QUBESD_SOCKET: d.socket },
    input,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A reply as text with NUL shown as `\0` (for readable assertions). */
export const shown = (b: Buffer): string => b.toString('utf8').replace(/\0/g, '\\0');

/**
 * qubes.xml of a store without what differs between two copies by nature,
 * for comparing a store changed through the daemon with one changed by our
 * commands: random uuids, the temporary directory, the time of a backup,
 * and the order of a qube's tags (a set: Qubes' client adds a clone's tags
 * one call at a time, after those of creation).
 */
export function comparableStore(s: TmpStore): string {
  return s
    .read()
    .replaceAll(s.dir, 'DIR')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID')
    .replace(/<property name="backup_timestamp">\d+<\/property>/g, '<property name="backup_timestamp">T</property>')
    .replace(/(<tag name="[^"]*"\/>\n\s*)+/g, (tags) => {
      const indent = /\n(\s*)$/.exec(tags)?.[1] ?? '';
      return `${tags.trim().split(/\n\s*/).sort().join(`\n${indent}`)}\n${indent}`;
    });
}

export interface StreamEvent {
  subject: string;
  event: string;
  fields: Record<string, string>;
}

export interface EventStream {
  events: StreamEvent[];
  /** The error frame that ended the stream (shown), if one did. */
  error(): string | undefined;
  close(): void;
  /** Until `pred` holds for the events so far. @throws after `ms` */
  waitFor(pred: (e: StreamEvent[]) => boolean, ms?: number): Promise<void>;
}

/**
 * A stream method's connection (admin.Events, admin.vm.Stats) and the
 * events it received so far; resolves at the first frame
 * (connection-established).
 */
export function subscribe(d: Daemon, dest = 'dom0', method = 'admin.Events'): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const events: StreamEvent[] = [];
    let error: string | undefined;
    let buf = Buffer.alloc(0);
    const c = net.connect(d.socket, () => c.end(request(method, dest)));
    const parse = () => {
      // 1\0 subject \0 event \0 (k \0 v \0)* \0; or, last, an error frame 2\0 ...
      for (;;) {
        if (buf.length < 2) return;
        if (buf[0] === 0x32 && buf[1] === 0) {
          error = shown(buf);
          return;
        }
        if (buf[0] !== 0x31 || buf[1] !== 0) throw new Error(`not an event frame: ${shown(buf)}`);
        const parts: string[] = [];
        let pos = 2;
        for (;;) {
          const nul = buf.indexOf(0, pos);
          if (nul < 0) return;
          const part = buf.subarray(pos, nul).toString('utf8');
          pos = nul + 1;
          if (parts.length >= 2 && parts.length % 2 === 0 && part === '') break;
          parts.push(part);
        }
        const [subject, event, ...kv] = parts as [string, string, ...string[]];
        const fields: Record<string, string> = {};
        for (let i = 0; i < kv.length; i += 2) fields[kv[i] as string] = kv[i + 1] as string;
        events.push({ subject, event, fields });
        buf = buf.subarray(pos);
      }
    };
    c.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      parse();
      if (events.length >= 1 || error !== undefined) resolve(handle);
    });
    c.on('error', reject);
    const handle: EventStream = {
      events,
      error: () => error,
      close: () => c.destroy(),
      waitFor: (pred, ms = 20000) =>
        new Promise<void>((res, rej) => {
          const until = Date.now() + ms;
          const tick = () =>
            pred(events) ? res() : Date.now() > until ? rej(new Error(`events so far: ${JSON.stringify(events.slice(-5))} ${error ?? ''}`)) : setTimeout(tick, 20);
          tick();
        }),
    };
  });
}
