// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A command's process ends as soon as the command is done (program.ts
 * main), but never before its output is written: standard output into a
 * pipe whose reader is slow is written in the background.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStore } from '../helpers.js';

test('the whole listing of 1000 qubes reaches a reader that starts reading a second late', () => {
  const s = tmpStore('qubes-xml/q1000.xml');
  try {
    const qvmLs = path.join(ROOT, 'bin', 'qvm-ls');
    const whole = path.join(s.dir, 'whole');
    const late = path.join(s.dir, 'late');
    // into a file: every write completes at once
    expect(spawnSync('sh', ['-c', '"$0" > "$1"', qvmLs, whole], { env: s.env }).status).toBe(0);
    // into a pipe (64 KiB) the reader leaves full for a second: the rest is written when it reads
    const r = spawnSync('bash', ['-c', 'set -o pipefail; "$0" | { sleep 1; cat > "$1"; }', qvmLs, late], { env: s.env, encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const expected = fs.readFileSync(whole, 'utf8');
    expect(expected.length).toBeGreaterThan(65536);
    expect(fs.readFileSync(late, 'utf8')).toBe(expected);
  } finally {
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
});
