// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The layers of lib/ (README "Layout"), checked by dependency-cruiser with
 * .dependency-cruiser.cjs: no import from a layer to one above it, none
 * between folders of one row, no import circle through two folders, no
 * circle of value imports. The tree must pass; a copy of it with an
 * upward import, a sideways one and a circle through two folders must
 * fail, naming each.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers.js';

// run by the Node that runs the tests (dependency-cruiser needs 22 or newer; PATH may offer an older one)
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

function cruise(cwd: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [DEPCRUISE, 'lib', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A copy of lib/ and the configuration in a temporary directory, `edit`ed. */
function withCopy(edit: (dir: string) => void, check: (r: { status: number | null; out: string }) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-layers-'));
  try {
    for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    fs.cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
    edit(dir);
    check(cruise(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const prepend = (dir: string, file: string, text: string) => {
  const p = path.join(dir, file);
  fs.writeFileSync(p, text + fs.readFileSync(p, 'utf8'));
};

test('lib/ imports only downward, with no circles', () => {
  const r = cruise(ROOT);
  expect(r.out).toContain('no dependency violations found');
  expect(r.status).toBe(0);
});

// one copy with three faults, each of which must be found (one run: the cruise takes seconds)
const FAULTS: [string, string, string, RegExp][] = [
  // the domain model reaching up into the store
  ['an upward import', 'lib/vm/names.ts', "import { Store } from '../app/store.js';\nexport const upward = Store;\n", /error layer-vm: lib\/vm\/names\.ts → lib\/app\/store\.ts/],
  ['an import between two folders of one row', 'lib/storage/sizes.ts', "import { parseDstHost } from '../firewall/rule.js';\nexport const beside = parseDstHost;\n", /error sibling-storage: lib\/storage\/sizes\.ts → lib\/firewall\/rule\.ts/],
  // the circle issue 16 broke: a qube typed by the store that holds it
  ['a circle through two folders (of a type-only import)', 'lib/vm/qubes-vm.ts', "import type { Qubes } from '../app/app.js';\nexport type Holder = Qubes;\n", /error no-circular-across-folders: lib\/(vm|app)\//],
];

test('an upward import, a sideways one and a circle through two folders each fail the check', () => {
  withCopy(
    (dir) => {
      for (const [, file, text] of FAULTS) prepend(dir, file, text);
    },
    (r) => {
      expect(r.status).not.toBe(0);
      for (const [what, , , finding] of FAULTS) expect({ what, found: finding.test(r.out) }).toEqual({ what, found: true });
    },
  );
});
