#!/usr/bin/env node
// Bundles each command into one CommonJS file, dist/bin/NAME.cjs, and the
// launcher that bin/NAME calls to run it, dist/bin/launch.cjs
// (lib/launcher.ts: the bundle compiled with a V8 code cache).
//
// Why (bench/RESULTS.md): Node loads ES modules one file at a time (resolve,
// read, compile), which cost ~25 ms per command start; one bundled file
// removes most of it (issue 2). CommonJS rather than an ES module bundle
// (issue 17): an ES module imports Node's built-in modules at link time, all
// of them, whether the command uses them or not, through a facade that reads
// every export (`import fs from 'node:fs'` alone loads Node's stream
// modules); in CommonJS a module's require() of a built-in runs when that
// module is first used, so code a command reaches only through a dynamic
// import() (the store lock, the storage drivers, the libvirt socket) costs
// nothing until it runs. tsc still type-checks and builds dist/lib for the
// tests and the docs generator.
//
// `node scripts/bundle.mjs --contents NAME` prints what NAME's bundle holds
// (esbuild's metafile: bytes in the output per source file), largest first.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'dist', 'bin');
const commands = Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).bin);

/**
 * commander requires child_process at load, for running subcommands as
 * separate programs, which these tools never do; loading it (with net,
 * dgram and the stream modules it pulls in) is a tenth of Node's own
 * start-up. It gets `spawn` that loads child_process on first call.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-for-commander' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-for-commander' }, () => ({
      contents: "let cp;\nmodule.exports = { spawn: (...args) => (cp ??= require('node:child_process')).spawn(...args) };\n",
      loader: 'js',
    }));
  },
};

/**
 * Node's built-in modules as our ES module sources import them, in one
 * module each that requires the built-in once: without this, esbuild gives
 * every importing file its own copy of the built-in's exports (fs has over
 * a hundred) for `import fs from 'node:fs'`, at start-up, a dozen times.
 * The module has only a default export, the built-in itself: `export *`
 * would copy every export of each built-in at start-up (esbuild's
 * __reExport: ~7 ms in a qvm-ls profile), so lib/ imports a built-in's
 * default and takes what it needs from it (`const { spawn } =
 * childProcess;`), and a named import of a built-in in lib/ fails the build.
 */
const builtinsOncePerBundle = {
  name: 'builtins-once-per-bundle',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (args.namespace === 'builtin') return { path: args.path, external: true };
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return undefined;
      // dependencies (execa) import names; esbuild requires the built-in where they use it
      if (/[\\/]node_modules[\\/]/.test(args.importer)) return undefined;
      return { path: args.path, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const id = JSON.stringify(args.path);
      return { contents: `const m = require(${id});\nexport default m;\n`, loader: 'js' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  // non-ASCII in strings and regular expressions as escapes; see asciiOnly for comments
  charset: 'ascii',
  logLevel: 'warning',
  legalComments: 'none',
  plugins: [builtinsOncePerBundle],
  write: false,
};

/**
 * esbuild keeps some comments, and their non-ASCII characters (section
 * signs, dashes) as they are; one of them makes V8 hold the whole source as
 * two bytes per character. Escaped in the comments too, the bundle is plain
 * ASCII: a byte copy to read, half the memory.
 */
const asciiOnly = (text) => text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);

async function writeOutputs(result) {
  for (const f of result.outputFiles) {
    fs.mkdirSync(path.dirname(f.path), { recursive: true });
    fs.writeFileSync(f.path, asciiOnly(f.text));
  }
}

const bundleCommand = (name, opts = {}) =>
  build({
    ...common,
    // lib/util/package-root.ts finds the package from the running file (computed when asked)
    define: { 'import.meta.url': '__qubesModule.url' },
    banner: { js: "var __qubesModule = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
    stdin: {
      // main() catches everything the command throws and sets process.exitCode
      contents: `import { main } from './lib/tools/common/program.js';\nimport * as command from './lib/tools/${name}.js';\nvoid main(command);\n`,
      resolveDir: root,
      sourcefile: `${name}-entry.ts`,
      loader: 'ts',
    },
    plugins: [lazyChildProcessForCommander, builtinsOncePerBundle],
    ...opts,
  });

if (process.argv[2] === '--contents') {
  const name = process.argv[3];
  const r = await bundleCommand(name, { metafile: true, outfile: path.join(outDir, `${name}.cjs`) });
  const [out] = Object.values(r.metafile.outputs);
  const rows = Object.entries(out.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
  console.log(`${out.bytes} bytes in dist/bin/${name}.cjs`);
  for (const [file, { bytesInOutput }] of rows) if (bytesInOutput > 0) console.log(`${String(bytesInOutput).padStart(8)}  ${path.relative(root, path.resolve(root, file))}`);
} else {
  fs.rmSync(outDir, { recursive: true, force: true });
  const results = await Promise.all([
    build({ ...common, entryPoints: [path.join(root, 'lib', 'launcher.ts')], outfile: path.join(outDir, 'launch.cjs') }),
    // the program of the key derivation process (lib/backup/kdf-process.ts starts it), installed beside the bundles
    build({ ...common, entryPoints: [path.join(root, 'lib', 'backup', 'kdf-child.ts')], outfile: path.join(outDir, 'kdf-child.cjs') }),
    ...commands.map((name) => bundleCommand(name, { outfile: path.join(outDir, `${name}.cjs`) })),
  ]);
  for (const r of results) await writeOutputs(r);
}
