#!/usr/bin/env node
// Bundles each command into one file, dist/bin/NAME.js, which bin/NAME runs.
//
// Why: Node loads ES modules one file at a time (resolve, read, compile),
// which cost ~25 ms per command start here on top of Node's own ~60-85 ms;
// one bundled file removes most of it (bench/RESULTS.md). Modules a command
// only sometimes needs (the store lock and proper-lockfile) stay lazily
// initialised inside the bundle. tsc still type-checks and builds dist/lib
// for the tests and the docs generator.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const commands = Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).bin);

await Promise.all(
  commands.map((name) =>
    build({
      stdin: {
        contents: `import { main } from './lib/tools/common/program.js';\nimport { spec, run } from './lib/tools/${name}.js';\nawait main(spec, run);\n`,
        resolveDir: root,
        sourcefile: `${name}-entry.ts`,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      outfile: path.join(root, 'dist', 'bin', `${name}.js`),
      // CommonJS dependencies (commander, proper-lockfile) call require().
      banner: { js: "import { createRequire as __qubesCreateRequire } from 'node:module';\nconst require = __qubesCreateRequire(import.meta.url);" },
      logLevel: 'warning',
      legalComments: 'none',
    }),
  ),
);
