// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * shellcheck on every shell script of the repository: the scripts, CI's
 * entry point, the completion engine and the completion generated from it,
 * the rpm's helper. Any finding fails, down to shellcheck's style level.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { testNeeding } from '../needs.js';

/** Directories that hold no sources of ours (dependencies, build output, local state). */
const SKIP = new Set(['.git', 'node_modules', 'dist', 'build', 'rpmbuild', 'coverage', 'demo-store']);

/** A shell script: *.sh or *.bash, a sh/bash shebang, or a `# shellcheck shell=` directive on its first line. */
function isShellScript(file: string): boolean {
  if (/\.(sh|bash)$/.test(file)) return true;
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(128);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
  return /^#!\s*\/(usr\/)?bin\/(env\s+)?(ba|da)?sh\b/.test(first) || /^#\s*shellcheck\s+shell=/.test(first);
}

function shellScripts(dir = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(e.name)) out.push(...shellScripts(rel));
    } else if (e.isFile() && isShellScript(path.join(ROOT, rel))) out.push(rel);
  }
  return out.sort();
}

testNeeding(['shellcheck'], 'shellcheck finds nothing in any shell script', () => {
  const scripts = shellScripts();
  // the search finds what it must
  for (const known of ['.ci/run', 'scripts/test.sh', 'scripts/demo.sh', 'scripts/completion-engine.bash', 'completions/qubes-tools.bash', 'rpm_spec/files-from-tree.sh'])
    expect(scripts).toContain(known);
  const r = spawnSync('shellcheck', ['--format=gcc', ...scripts], { cwd: ROOT, encoding: 'utf8' });
  expect({ status: r.status, findings: r.stdout + r.stderr }).toEqual({ status: 0, findings: '' });
});
