// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * When a qube started. The reference reads it from xenstore
 * (/vm/<uuid>/start_time), which exists only on Xen; here the start path
 * records it in the run directory (`start-time.<name>`, seconds since the
 * epoch as a decimal, as the reference's float) so every hypervisor has it.
 * Reference: qubes/vm/qubesvm.py start_time; spec vmm.md §3.8.
 */
import fs from 'node:fs';
import path from 'node:path';

const file = (env: NodeJS.ProcessEnv, name: string) => path.join(env.QUBES_RUN_DIR || '/var/run/qubes', `start-time.${name}`);

export function recordStartTime(env: NodeJS.ProcessEnv, name: string, nowMs = Date.now()): void {
  const f = file(env, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, `${(nowMs / 1000).toFixed(2)}\n`);
}

export function clearStartTime(env: NodeJS.ProcessEnv, name: string): void {
  fs.rmSync(file(env, name), { force: true });
}

/** The recorded start time, or undefined. */
export function readStartTime(env: NodeJS.ProcessEnv, name: string): string | undefined {
  try {
    return fs.readFileSync(file(env, name), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
