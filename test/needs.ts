// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Tests that need tools of the machine (make, rpmbuild, man, shellcheck,
 * bash-completion, the Python modules of the reference core): a missing
 * tool makes the test skipped, saying which, and
 * never passed; under CI=true, where scripts/test.sh has installed them, a
 * missing tool fails the test.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const CI = process.env.CI === 'true';

/** A command on PATH, or (an absolute path) a file. */
export const available = (tool: string): boolean =>
  tool.startsWith('/') ? fs.existsSync(tool) : spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;

export const missing = (tools: string[]): string[] => tools.filter((t) => !available(t));

/** `test(name, fn, timeout)` when every tool is there; else skipped, or failing under CI=true. */
export function testNeeding(tools: string[], name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  testWithout(missing(tools), name, fn, timeout);
}

/** `test(name, fn, timeout)` when nothing is `absent` (names of what is missing); else skipped, or failing under CI=true. */
export function testWithout(absent: string[], name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  if (!absent.length) test(name, fn, timeout);
  else if (CI) test(name, () => {
    throw new Error(`missing ${absent.join(', ')} (scripts/test.sh installs it; under CI=true that is a failure)`);
  });
  else test.skip(`${name} [skipped: missing ${absent.join(', ')}]`, fn);
}
