// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The error codes (README, "Error codes"): every user-facing error class
 * has its own `EQUBES_*` code, the README's table lists exactly those with
 * the exit status the one mapping (exitCodeFor) gives the class, and no
 * exported error class of the library lives outside the modules read here.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as errors from '../../lib/errors.js';
import { InputFileError } from '../../lib/util/input-file.js';
import { XmlWriteError } from '../../lib/util/xml-writer.js';
import { exitCodeFor, UsageError } from '../../lib/tools/common/errors.js';
import { ROOT } from '../helpers.js';

type ErrorClass = new (...args: unknown[]) => Error & { code: string };

const isErrorClass = (v: unknown): v is ErrorClass => typeof v === 'function' && v.prototype instanceof Error;
const CLASSES: ErrorClass[] = [...Object.values(errors).filter(isErrorClass), InputFileError, XmlWriteError, UsageError] as ErrorClass[];
/** An instance: every constructor takes strings or numbers first, or nothing. */
const sample = (c: ErrorClass) => Reflect.construct(c, ['x', 'x']) as Error & { code: string };

test('each error class has its own code, EQUBES_ and capitals', () => {
  const codes = CLASSES.map((c) => sample(c).code);
  for (const code of codes) expect(code).toMatch(/^EQUBES_[A-Z0-9_]+$/);
  expect(new Set(codes).size).toBe(CLASSES.length);
});

test("the README's table lists every code with its class and the exit status the class maps to", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Error codes\n'), readme.indexOf('\n## ', readme.indexOf('\n## Error codes\n') + 1));
  const rows = [...section.matchAll(/^\| `(EQUBES_\w+)` \| `(\w+)` \| (\d) \|/gm)].map((m) => [m[1], m[2], Number(m[3])]);
  const expected = CLASSES.map((c) => {
    const e = sample(c);
    return [e.code, c.name, exitCodeFor(e)];
  });
  expect([...rows].sort()).toEqual([...expected].sort());
});

test('every exported subclass of these errors in lib/ is one of the classes above', () => {
  const known = new Set(CLASSES.map((c) => c.name));
  const files = (fs.readdirSync(path.join(ROOT, 'lib'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const exported: string[] = [];
  for (const f of files)
    for (const m of fs.readFileSync(path.join(ROOT, 'lib', f), 'utf8').matchAll(/^export class (\w+) extends (\w+)/gm))
      if (known.has(m[2] as string)) exported.push(m[1] as string);
  for (const name of exported) expect(known).toContain(name);
});
