// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A line of the process's standard input, read synchronously: how a
 * command run as a process asks for a confirmation (the runner gives it
 * to the session; prompt.ts reads secrets with it). Apart from prompt.ts,
 * which loads child_process for stty, so that every command's runner
 * can name it without loading that at start-up.
 */
import fs from 'node:fs';

/** One line from the process's standard input, file descriptor 0 (blocking; EOF gives what was read, possibly ''). */
export function readFd0Line(): string {
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
