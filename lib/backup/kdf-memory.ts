// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The memory of scrypt key derivations, the one large allocation of a
 * backup or a restore (128·N·r bytes each: 1 GiB at N=2^20, r=8).
 *
 * Every derivation of the process passes through one gate: derivations
 * run side by side only while their sum stays within KDF_BUDGET (so with
 * the written parameters one at a time, and a backup or restore peaks
 * near 1.2 GiB whatever its size), and only as many as there are cores.
 * Before a derivation starts, the memory the machine (and the process's
 * cgroup) can still give is checked: a derivation that cannot be afforded
 * is refused with one clear error instead of an out-of-memory kill
 * halfway through the backup.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KdfMemoryError } from '../errors.js';

/** Memory all derivations of one process may use at once (the peak of a backup stays ≤ 1.5 GiB). */
export const KDF_BUDGET = 1.25 * 1024 ** 3;
/** Room kept beside a derivation for the rest of the process (buffers, Node itself). */
const HEADROOM = 128 * 1024 ** 2;
const MiB = 1024 ** 2;

const readNumber = (file: string): number | undefined => {
  try {
    const t = fs.readFileSync(file, 'latin1').trim();
    return t === 'max' ? Infinity : Number(t);
  } catch {
    return undefined;
  }
};

const statField = (file: string, names: string[]): number => {
  let text = '';
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return 0;
  }
  let sum = 0;
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k !== undefined && names.includes(k)) sum += Number(v) || 0;
  }
  return sum;
};

/** What the memory cgroups of this process (v2 or v1, each level up to the root) still allow; page cache counts as free. */
function cgroupAvailable(root = '/sys/fs/cgroup'): number {
  let lines: string[];
  try {
    lines = fs.readFileSync('/proc/self/cgroup', 'latin1').split('\n');
  } catch {
    return Infinity;
  }
  let least = Infinity;
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'))?.[2];
  const levels = (base: string, rel: string): string[] => {
    const out: string[] = [];
    for (let p = rel; ; p = path.posix.dirname(p)) {
      out.push(path.join(base, p));
      if (p === '/' || p === '.' || p === '') break;
    }
    return out;
  };
  if (v1 !== undefined)
    for (const d of levels(path.join(root, 'memory'), v1)) {
      const limit = readNumber(path.join(d, 'memory.limit_in_bytes'));
      const used = readNumber(path.join(d, 'memory.usage_in_bytes'));
      if (limit === undefined || used === undefined || limit >= 2 ** 60) continue;
      least = Math.min(least, limit - used + statField(path.join(d, 'memory.stat'), ['total_inactive_file', 'total_active_file']));
    }
  if (v2 !== undefined && fs.existsSync(path.join(root, 'cgroup.controllers')))
    for (const d of levels(root, v2)) {
      const limit = readNumber(path.join(d, 'memory.max'));
      const used = readNumber(path.join(d, 'memory.current'));
      if (limit === undefined || used === undefined || limit === Infinity) continue;
      least = Math.min(least, limit - used + statField(path.join(d, 'memory.stat'), ['inactive_file', 'active_file']));
    }
  return least;
}

/** Bytes this process can still allocate without being killed: the system's MemAvailable, or less where a cgroup limits it. */
export function availableMemory(): number {
  let system = os.freemem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'latin1'));
    if (m) system = Number(m[1]) * 1024;
  } catch {
    // os.freemem() then
  }
  return Math.min(system, cgroupAvailable());
}

/** One derivation's memory in bytes. */
export const kdfBytes = (p: { logN: number; r: number; p: number }): number => 128 * 2 ** p.logN * p.r * p.p;

/** The gate every derivation of the process waits at (FIFO). */
class KdfGate {
  private inUse = 0;
  private running = 0;
  private readonly waiting: { bytes: number; go: () => void; fail: (e: unknown) => void }[] = [];

  private fits(bytes: number): boolean {
    if (this.running === 0) return true;
    return this.running < Math.min(os.availableParallelism(), 2) && this.inUse + bytes <= KDF_BUDGET && availableMemory() >= bytes + HEADROOM;
  }

  private admit(bytes: number): void {
    // alone, the derivation must fit what the machine has left: refuse it rather than be killed
    if (this.running === 0) {
      const free = availableMemory();
      if (free < bytes + HEADROOM)
        throw new KdfMemoryError(
          `Not enough memory for the scrypt key derivation: it needs ${Math.ceil((bytes + HEADROOM) / MiB)} MiB, only ${Math.max(0, Math.floor(free / MiB))} MiB available`,
        );
    }
    this.running++;
    this.inUse += bytes;
  }

  private pump(): void {
    while (this.waiting.length) {
      const w = this.waiting[0] as (typeof this.waiting)[number];
      if (!this.fits(w.bytes)) return;
      this.waiting.shift();
      try {
        this.admit(w.bytes);
        w.go();
      } catch (e) {
        w.fail(e);
      }
    }
  }

  /** Run `job` (a derivation of `bytes`) once the gate lets it. */
  async run<T>(bytes: number, job: () => Promise<T>): Promise<T> {
    await new Promise<void>((go, fail) => {
      this.waiting.push({ bytes, go, fail });
      this.pump();
    });
    try {
      return await job();
    } finally {
      this.running--;
      this.inUse -= bytes;
      this.pump();
    }
  }
}

export const kdfGate = new KdfGate();
