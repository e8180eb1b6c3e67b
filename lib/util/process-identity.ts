// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A process told apart from a later one that got the same pid: its pid and
 * its start time (clock ticks since boot, field 22 of /proc/PID/stat). What
 * a file left by a writer records, so that the next writer can tell
 * whether the first one is gone (killed) and its leftover may be removed.
 */
import fs from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** '0' where /proc could not tell. */
  start: string;
}

/** Start time of a process, or undefined when it is gone (or there is no /proc). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: count from its last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export const selfIdentity = (): ProcessIdentity => ({ pid: process.pid, start: processStartTime(process.pid) ?? '0' });

/**
 * Alive when the pid runs and, where /proc tells, started when recorded.
 * Without /proc only the pid can be checked: a reused pid then counts as
 * alive, which keeps a leftover longer (safe); calling a live process dead
 * never happens.
 */
export function processAlive(p: ProcessIdentity): boolean {
  const start = processStartTime(p.pid);
  if (start !== undefined && p.start !== '0') return start === p.start;
  try {
    process.kill(p.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
