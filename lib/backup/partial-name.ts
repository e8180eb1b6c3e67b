// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Hidden temporary names for what a backup command writes before it is
 * complete (a backup file, a restored dom0 home): `.NAME.partial~PID-START`
 * beside the final NAME, which it gets only when whole. The name records
 * the writer (pid and process start time), so the next command writing
 * into that directory removes what a killed one left (`kill -9`, a power
 * cut) and never what a live one is writing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { processAlive, selfIdentity } from '../util/process-identity.js';

const PARTIAL_RE = /^\..+\.partial~(\d+)-(\d+)$/;

/** The temporary name this process uses for `final`. */
export function partialName(final: string): string {
  const me = selfIdentity();
  return path.join(path.dirname(final), `.${path.basename(final)}.partial~${me.pid}-${me.start}`);
}

/** Remove the partial files and directories in `dir` whose writer is gone. */
export function removeDeadPartials(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = PARTIAL_RE.exec(n);
    if (m && !processAlive({ pid: Number(m[1]), start: m[2] as string })) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
  }
}
