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

/** In the run directory (lib/config.ts runDir). */
const file = (runDir: string, name: string) => path.join(runDir, `start-time.${name}`);

export function recordStartTime(runDir: string, name: string, nowMs = Date.now()): void {
  const f = file(runDir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, `${(nowMs / 1000).toFixed(2)}\n`);
}

export function clearStartTime(runDir: string, name: string): void {
  fs.rmSync(file(runDir, name), { force: true });
}

/** The recorded start time, or undefined. */
export function readStartTime(runDir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(file(runDir, name), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
