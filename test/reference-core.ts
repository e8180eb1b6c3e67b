// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The reference core (qubes-core-admin 4.4 in ../shared/reference-core, run
 * offline by its ref-python) for the tests that compare with it. It needs
 * Debian's python3-lxml, -jinja2, -docutils, -yaml and -pyinotify, which
 * scripts/test.sh installs.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';

export const REF = path.join(ROOT, '..', 'shared', 'reference-core');
export const REF_PYTHON = path.join(REF, 'ref-python');

/** What the reference core needs that this machine lacks, for testWithout (test/needs.ts). */
export function referenceCoreMissing(): string[] {
  const modules = ['lxml', 'jinja2', 'docutils', 'yaml', 'pyinotify'];
  if (!fs.existsSync(REF_PYTHON)) return [REF_PYTHON];
  const r = spawnSync(REF_PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
  return r.status === 0 ? [] : [`the Python modules of the reference core (Debian python3-${modules.join(', python3-')})`];
}
