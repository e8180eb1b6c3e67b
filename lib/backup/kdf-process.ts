// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * scrypt key derivations in a child process of their own, for the length
 * of a backup or restore run.
 *
 * Why a process: an N=2^20 derivation touches a fresh 1 GiB allocation at
 * random. In 4 KiB pages that is 262144 page faults and a TLB miss on most
 * reads: about 5 s here, a third of it system time. glibc (>= 2.35) asks
 * transparent huge pages for its large allocations when started with
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (THP mode `madvise`, the usual
 * one), which halves the derivation; glibc reads its tunables only when a
 * process starts, so the derivations run in a process started so
 * (config.ts kdfProcessEnv), with the same Node binary, for the whole run:
 * one start, when the run begins. Without huge
 * pages (THP `never`, older glibc) it works the same, only slower.
 *
 * The passphrase goes over the IPC channel, never on a command line or in
 * the environment. Derivations still pass the process's memory gate
 * (kdf-memory.ts) first: the child is in the command's cgroup, so what the
 * gate reads as available counts its memory, and it frees each derivation's
 * memory before it answers. The child dies with the channel (kdf-child.ts);
 * the run kills it when it ends. If it cannot be started, derivations run
 * in this process (crypto.scrypt on the thread pool) as before, silently.
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { kdfProcessEnv, type Env } from '../config.js';
import { packageRoot } from '../util/package-root.js';

/** What a derivation is asked with (the arguments of crypto.scrypt). */
export interface ScryptRequest {
  password: string | Buffer;
  salt: Buffer;
  N: number;
  r: number;
  p: number;
  maxmem: number;
}

interface Pending {
  resolve: (key: Buffer) => void;
  reject: (e: Error) => void;
}

const inProcess = (q: ScryptRequest): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    crypto.scrypt(q.password, q.salt, 64, { N: q.N, r: q.r, p: q.p, maxmem: q.maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });

/** One running child and the requests it has not answered. */
class KdfChild {
  private readonly child: childProcess.ChildProcess;
  private readonly pending = new Map<number, Pending & { q: ScryptRequest }>();
  private nextId = 0;
  /** The child answered once: it runs, so its end is an error, not a reason to fall back. */
  private answered = false;
  ended = false;

  constructor(env: Env, onUnusable: () => void) {
    this.child = childProcess.spawn(process.execPath, [path.join(packageRoot(), 'dist', 'bin', 'kdf-child.cjs')], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: kdfProcessEnv(env),
    });
    this.child.unref();
    this.idle();
    this.child.on('message', (m: { id: number; key?: string; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.answered = true;
      this.pending.delete(m.id);
      this.idle();
      if (m.key !== undefined) p.resolve(Buffer.from(m.key, 'base64'));
      else p.reject(new Error(m.error ?? 'no key'));
    });
    const end = (why: string, startFailed: boolean) => {
      if (this.ended) return;
      this.ended = true;
      const left = [...this.pending.values()];
      this.pending.clear();
      if (startFailed) {
        onUnusable();
        for (const p of left) inProcess(p.q).then(p.resolve, p.reject);
      } else for (const p of left) p.reject(new Error(why));
    };
    // spawn failed (no such binary, no process left; no pid then): derive here. Any other
    // error (the channel of a child that died) ends the run's derivations with an error: falling
    // back then would put 1 GiB derivations in this process just after memory ran short
    this.child.on('error', (e) => end(`the key derivation process failed: ${e.message}`, this.child.pid === undefined));
    // killed (by the kernel's out-of-memory killer, most likely): an error; ended by itself before any answer: it cannot run here
    this.child.on('exit', (code, signal) =>
      end(`the key derivation process ended (${signal ?? `exit code ${code}`})`, !this.answered && signal === null),
    );
  }

  /** The channel keeps this process alive only while a derivation is awaited. */
  private idle(): void {
    const ch = this.child.channel;
    if (!ch) return;
    if (this.pending.size > 0) ch.ref();
    else ch.unref();
  }

  derive(q: ScryptRequest): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, q });
      this.idle();
      const password = Buffer.isBuffer(q.password) ? q.password : Buffer.from(q.password, 'utf8');
      this.child.send({ id, password: password.toString('base64'), salt: q.salt.toString('base64'), N: q.N, r: q.r, p: q.p, maxmem: q.maxmem }, (err) => {
        // the channel closed under this request (the child died): this request fails, now
        const p = err ? this.pending.get(id) : undefined;
        if (!p) return;
        this.pending.delete(id);
        this.idle();
        p.reject(new Error(`the key derivation process failed: ${err?.message ?? ''}`));
      });
    });
  }

  /**
   * Kill the child and reap it (at most a second's wait): a reaped child's
   * peak memory is counted in the command's own resource usage, which is
   * what `time -v` and the bench report, and no zombie outlives the run.
   */
  kill(): Promise<void> {
    this.ended = true;
    for (const p of this.pending.values()) p.reject(new Error('the key derivation process was stopped'));
    this.pending.clear();
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return Promise.resolve();
    return new Promise((resolve) => {
      // a referenced timer: the child and its channel are unreferenced, and
      // without it the loop would end here, with the run's last steps unrun
      const timer = setTimeout(resolve, 1000);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      c.kill('SIGKILL');
    });
  }
}

let holders = 0;
let holderEnv: Env = {};
let child: KdfChild | undefined;
/** The child could not run on this machine: derive in this process from now on. */
let unusable = false;

const running = (): KdfChild => {
  if (!child || child.ended)
    child = new KdfChild(holderEnv, () => {
      unusable = true;
    });
  return child;
};

/**
 * Run `work` with the key derivations of this process in the child
 * (started at once, so that Node's start-up overlaps the run's first
 * reads; killed when the last of the runs that hold it ends). `env`: the
 * command's environment (its GLIBC_TUNABLES).
 */
export async function withKdfProcess<T>(env: Env, work: () => Promise<T>): Promise<T> {
  if (holders++ === 0) {
    holderEnv = env;
    if (!unusable) running();
  }
  try {
    return await work();
  } finally {
    if (--holders === 0) {
      const ending = child;
      child = undefined;
      await ending?.kill();
    }
  }
}

/** The 64 bytes of key of `q`: in the child during a run (withKdfProcess), else here. */
export function scryptKey(q: ScryptRequest): Promise<Buffer> {
  if (holders === 0 || unusable) return inProcess(q);
  return running().derive(q);
}
