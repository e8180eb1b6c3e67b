// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Tests that need what the machine may lack. Such a test is never passed
 * without running: it is skipped, its name saying what is missing, or it
 * fails. Two kinds of lack:
 * - what scripts/test.sh installs (make, rpmbuild, man, shellcheck,
 *   bash-completion, libvirtd and QEMU, the Python modules of the reference
 *   core): skipped, and under CI=true, where the script has installed it, a
 *   failure;
 * - what no script provides (root, the machine's devices): always skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const CI = process.env.CI === 'true';

/** A command on PATH, or (an absolute path) a file. */
export const available = (tool: string): boolean =>
  tool.startsWith('/') ? fs.existsSync(tool) : spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;

export const missing = (tools: string[]): string[] => tools.filter((t) => !available(t));

/** Names of what is missing, by kind (see the module comment). */
export interface Lacking {
  /** What scripts/test.sh installs. */
  installable?: string[];
  /** What no script provides: root, a device. */
  machine?: string[];
}

/** `['root']` unless the tests run as root. */
export const lackingRoot = (): string[] => (process.getuid?.() === 0 ? [] : ['root']);

/** How a test or group runs: as is, skipped (name says why), or replaced by a failure under CI=true. */
function gate(lacking: Lacking): { skip?: string; failure?: string } {
  const machine = lacking.machine ?? [];
  const installable = lacking.installable ?? [];
  if (machine.length) return { skip: `[skipped: missing ${[...machine, ...installable].join(', ')}]` };
  if (!installable.length) return {};
  if (CI) return { failure: `missing ${installable.join(', ')} (scripts/test.sh installs it; under CI=true that is a failure)` };
  return { skip: `[skipped: missing ${installable.join(', ')}]` };
}

/** `test(name, fn, timeout)` when nothing is lacking; else skipped, or failing (see the module comment). */
export function testLacking(lacking: Lacking, name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  const g = gate(lacking);
  if (g.failure !== undefined) {
    const failure = g.failure;
    test(name, () => {
      throw new Error(failure);
    });
  } else if (g.skip !== undefined) test.skip(`${name} ${g.skip}`, fn);
  else test(name, fn, timeout);
}

/** `describe(name, fn)` when nothing is lacking; else every test skipped, or one failing test (see the module comment). */
export function describeLacking(lacking: Lacking, name: string, fn: () => void): void {
  const g = gate(lacking);
  if (g.failure !== undefined) {
    const failure = g.failure;
    describe(name, () =>
      test('has what it needs', () => {
        throw new Error(failure);
      }),
    );
  } else if (g.skip !== undefined) describe.skip(`${name} ${g.skip}`, fn);
  else describe(name, fn);
}

/** `test(name, fn, timeout)` when every tool is there; else skipped, or failing under CI=true. */
export function testNeeding(tools: string[], name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  testLacking({ installable: missing(tools) }, name, fn, timeout);
}

/** `test(name, fn, timeout)` when nothing is `absent` (names of what scripts/test.sh installs); else skipped, or failing under CI=true. */
export function testWithout(absent: string[], name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  testLacking({ installable: absent }, name, fn, timeout);
}
