// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The library reads the process's environment, standard streams, arguments
 * and working directory only in the runner and the launcher: everything
 * else takes them from the command's Session. The rule of
 * eslint.process-rules.mjs, checked here with the TypeScript compiler on
 * every file of lib/: `process.env` and its kind, `process['env']`,
 * `const { env } = process` and `import { env } from 'node:process'`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { ROOT } from '../helpers.js';

const rules = (await import(pathToFileURL(path.join(ROOT, 'eslint.process-rules.mjs')).href)) as { PROCESS_GLOBALS: string[]; PROCESS_GLOBALS_ALLOWED: string[] };
const GLOBALS = new Set(rules.PROCESS_GLOBALS);

/** `file:line: what` for each read of a process global in `source`. */
function processReads(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const at = (n: ts.Node, what: string) => found.push(`${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}: ${what}`);
  const isProcess = (e: ts.Expression) => ts.isIdentifier(e) && e.text === 'process';
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n) && isProcess(n.expression) && GLOBALS.has(n.name.text)) at(n, `process.${n.name.text}`);
    if (ts.isElementAccessExpression(n) && isProcess(n.expression) && ts.isStringLiteralLike(n.argumentExpression) && GLOBALS.has(n.argumentExpression.text))
      at(n, `process['${n.argumentExpression.text}']`);
    if (ts.isVariableDeclaration(n) && n.initializer && isProcess(n.initializer) && ts.isObjectBindingPattern(n.name))
      for (const el of n.name.elements) {
        const key = (el.propertyName ?? el.name) as ts.Node;
        if (ts.isIdentifier(key) && GLOBALS.has(key.text)) at(el, `{ ${key.text} } = process`);
      }
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier) && ['node:process', 'process'].includes(n.moduleSpecifier.text)) {
      const named = n.importClause?.namedBindings;
      if (named && ts.isNamedImports(named))
        for (const el of named.elements) if (GLOBALS.has((el.propertyName ?? el.name).text)) at(el, `import { ${(el.propertyName ?? el.name).text} } from '${n.moduleSpecifier.text}'`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

function libFiles(dir = 'lib'): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? libFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

test('the check finds each way of reading a process global', () => {
  const src = [
    "import { env as e } from 'node:process';",
    'const a = process.env.QUBES_BASE_DIR;',
    "const b = process['stdout'];",
    'const { argv, pid } = process;',
    'process.stderr.write(a);',
    'const c = process.getuid?.() ?? process.pid;',
  ].join('\n');
  expect(processReads('x.ts', src)).toEqual([
    "x.ts:1: import { env } from 'node:process'",
    'x.ts:2: process.env',
    "x.ts:3: process['stdout']",
    'x.ts:4: { argv } = process',
    'x.ts:5: process.stderr',
  ]);
});

test('lib/ reads the environment, standard streams, arguments and working directory only in the runner and the launcher', () => {
  const files = libFiles();
  expect(files).toEqual(expect.arrayContaining(rules.PROCESS_GLOBALS_ALLOWED));
  const reads = files.filter((f) => !rules.PROCESS_GLOBALS_ALLOWED.includes(f)).flatMap((f) => processReads(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
  expect(reads).toEqual([]);
  // the allowed files are where the reads are: the check looks at the real tree
  expect(processReads('lib/tools/common/program.ts', fs.readFileSync(path.join(ROOT, 'lib/tools/common/program.ts'), 'utf8')).length).toBeGreaterThan(0);
});
