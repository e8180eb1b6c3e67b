// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The suite runs on a maintained Node (22 or newer), and so do the
 * commands it starts: the shims in bin/ run the `node` first on PATH.
 */
import { ROOT, run, tmpStore } from './helpers.js';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const major = (v: string) => Number(v.replace(/^v/, '').split('.')[0]);

test('the tests run on Node 22 or newer', () => {
  console.log(`tests ran on node ${process.version}`);
  expect(major(process.version)).toBeGreaterThanOrEqual(22);
});

test('the commands run on the same Node as the tests', () => {
  const r = spawnSync('node', ['-p', 'process.version'], { encoding: 'utf8' });
  expect(r.stdout.trim()).toBe(process.version);
  const s = tmpStore('qubes-xml/q10.xml');
  const ls = run('qvm-ls', ['--raw-list'], s.env);
  expect(ls.code).toBe(0);
  fs.rmSync(s.dir, { recursive: true, force: true });
});

test('package.json asks for Node 22 or newer', () => {
  const pkg = JSON.parse(fs.readFileSync(`${ROOT}/package.json`, 'utf8'));
  expect(pkg.engines.node).toBe('>=22');
});
