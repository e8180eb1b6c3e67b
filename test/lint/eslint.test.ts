// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * typescript-eslint (eslint.config.mjs) on every TypeScript file: any finding
 * fails. A dev dependency, so it is always there. A fixture with one mistake
 * per rule shows the configuration is in force, not silently empty.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers.js';

const ESLINT = path.join(ROOT, 'node_modules', '.bin', 'eslint');

const eslint = (args: string[]) => spawnSync(ESLINT, ['--format=stylish', ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });

test('eslint finds nothing in lib, scripts, bench and test', () => {
  const r = eslint(['.']);
  expect({ status: r.status, findings: r.stdout + r.stderr }).toEqual({ status: 0, findings: '' });
}, 300_000);

test('the rules are in force: each catches its mistake', () => {
  const r = eslint(['--no-ignore', 'test/lint/fixtures/eslint-mistakes.ts']);
  expect(r.status).toBe(1);
  for (const rule of ['no-unused-vars', 'consistent-type-imports', 'no-floating-promises', 'no-misused-promises', 'no-explicit-any'])
    expect(r.stdout).toContain(`@typescript-eslint/${rule}`);
}, 300_000);
