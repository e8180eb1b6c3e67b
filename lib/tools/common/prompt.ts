// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Questions on the terminal: one line of standard input (a confirmation),
 * and a secret read with echo off when standard input is a terminal.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** One line from stdin (blocking; EOF gives what was read, possibly ''). */
export function readLine(): string {
  const buf = Buffer.alloc(1);
  const bytes: number[] = [];
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, 1, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0 || buf[0] === 0x0a) break;
    bytes.push(buf[0] as number);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * A secret typed on the terminal with echo off (`stty -echo` on the
 * controlling terminal), or a line of standard input when it is not a
 * terminal. `prompt` goes to stderr.
 */
export function readSecret(prompt: string): string {
  process.stderr.write(prompt);
  const tty = process.stdin.isTTY;
  let restore = false;
  if (tty) {
    try {
      process.stdin.setRawMode?.(false);
      // echo off without raw mode keeps line editing; spawnSync so the answer is read synchronously
      const r = spawnSync('stty', ['-echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
      restore = r.status === 0;
    } catch {
      restore = false;
    }
  }
  try {
    return readLine();
  } finally {
    if (restore) spawnSync('stty', ['echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
    if (tty) process.stderr.write('\n');
  }
}
