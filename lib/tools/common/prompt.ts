// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A secret typed with echo off when standard input is a terminal (stty on
 * the controlling terminal); otherwise, and for confirmations, a line of
 * the session's standard input (stdin-line.ts for a process, the given
 * input for a command run in memory).
 */
import childProcess from 'node:child_process';
import type { SessionStreams } from '../../ops/session.js';
const { spawnSync } = childProcess;

/**
 * A secret typed on the terminal with echo off (`stty -echo` on the
 * controlling terminal), or a line of standard input when it is not a
 * terminal. `prompt` goes to stderr.
 */
export function readSecret(streams: SessionStreams, prompt: string): string {
  streams.err(prompt);
  const tty = streams.stdinIsTTY();
  let restore = false;
  if (tty) {
    try {
      streams.stdin().setRawMode?.(false);
      // echo off without raw mode keeps line editing; spawnSync so the answer is read synchronously
      const r = spawnSync('stty', ['-echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
      restore = r.status === 0;
    } catch {
      restore = false;
    }
  }
  try {
    return streams.readLine();
  } finally {
    if (restore) spawnSync('stty', ['echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
    if (tty) streams.err('\n');
  }
}
