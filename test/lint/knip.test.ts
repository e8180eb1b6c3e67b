// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * knip (knip.jsonc): no unused file, export, type, enum member or
 * dependency, and no package imported without being listed in package.json.
 * A dev dependency, so it is always there.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers.js';

test('knip finds no unused file, export or dependency', () => {
  const r = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'knip'), ['--no-progress', '--no-config-hints'], { cwd: ROOT, encoding: 'utf8' });
  expect({ status: r.status, findings: r.stdout + r.stderr }).toEqual({ status: 0, findings: '' });
}, 120_000);
