// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Start-up: process.stderr is a stream Node makes on first use (for a pipe
 * it loads net), so a command makes it only when it writes to standard
 * error (lib/tools/common/program.ts, bench/RESULTS.md). Seen through a
 * preloaded module that records every look at process.stderr.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpDir, removeTmpDir, tmpStore, type TmpStore } from '../helpers.js';

let tmp: string;
let s: TmpStore;
beforeEach(() => {
  tmp = tmpDir('qubes-start-up-streams-');
  s = tmpStore('qubes-xml/q10.xml');
});
afterEach(() => {
  removeTmpDir(tmp);
  fs.rmSync(s.dir, { recursive: true, force: true });
});

/** bin/NAME with a preload that appends a line to `looks` whenever process.stderr is read. */
function runWatched(name: string, args: string[]): { code: number; stderr: string; looks: number } {
  const looks = path.join(tmp, 'looks');
  const trap = path.join(tmp, 'trap.cjs');
  fs.writeFileSync(
    trap,
    `const fs = require('node:fs');
const d = Object.getOwnPropertyDescriptor(process, 'stderr');
Object.defineProperty(process, 'stderr', { configurable: true, enumerable: d.enumerable, get() { fs.appendFileSync(${JSON.stringify(looks)}, 'look\\n'); return d.get.call(this); } });
`,
  );
  const r = run(name, args, { ...s.env, NODE_OPTIONS: `--require ${trap}` });
  const n = fs.existsSync(looks) ? fs.readFileSync(looks, 'utf8').split('\n').filter(Boolean).length : 0;
  return { code: r.code, stderr: r.stderr, looks: n };
}

test('a command that writes nothing to standard error does not make its stream', () => {
  const r = runWatched('qvm-ls', ['--offline-mode']);
  expect(r).toEqual({ code: 0, stderr: '', looks: 0 });
});

test('a command that reports an error makes the stream and writes its one line', () => {
  const r = runWatched('qvm-prefs', ['--offline-mode', 'no-such-qube']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^qvm-prefs: error: .*no-such-qube.*\n$/);
  expect(r.looks).toBeGreaterThan(0);
});
