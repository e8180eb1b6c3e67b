#!/usr/bin/env node
// Wall-clock benchmark of whole commands (process start to exit), medians of
// several runs, with Node's own start-up (`node -e 0`) measured in the same
// run as the baseline the machine can reproduce. Not a test: run it with
// `npm run bench` after `npm run build`; figures go to bench/RESULTS.md.
//
// Every command runs through its bin/ shim, so by the first `node` on PATH,
// as a user's shell would run it; the baseline is that same node. The runs
// are interleaved: each round runs every case once, in a rotating order, so
// a machine whose load changes during the benchmark slows all cases alike
// and the ratios stay comparable.
//
//   BENCH_RUNS=N        rounds (default 11; 3 when counting instructions)
//   BENCH_MEASURE=instructions
//                       count the instructions each run executes (all its
//                       threads, under valgrind's cachegrind) instead of
//                       timing it: ~50 times slower, but independent of the
//                       machine's load (within ±5%: V8 draws a random hash
//                       seed at start), for comparing changes on a busy machine
//   BENCH_TREES=...     also run the commands of other built checkouts (their
//                       bin/), e.g. the commit before a change, side by side:
//                       'LABEL=DIR[;LABEL=DIR...]'
//   BENCH_ONLY=REGEX    run only the cases whose label matches (and the
//                       baseline), e.g. 'q1000' for the two commands on the
//                       1004-qube store: valgrind runs are slow
//   BENCH_VARIANTS=...  also run this checkout's commands with these
//                       environments, e.g. 'QUBES_NO_CODE_CACHE=1' (several:
//                       separated by ';', each NAME=VALUE[,NAME=VALUE])
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './measure.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vectors = path.resolve(root, '..', 'shared', 'vectors', 'qubes-xml');
const instructions = process.env.BENCH_MEASURE === 'instructions';
const runs = Number(process.env.BENCH_RUNS || (instructions ? 3 : 11));
const variants = [
  { label: '', env: {} },
  ...(process.env.BENCH_VARIANTS ?? '')
    .split(';')
    .filter(Boolean)
    .map((v) => ({ label: ` [${v}]`, env: Object.fromEntries(v.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) })),
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-bench-'));
// The code and store caches of these runs only (made by the warm-up round), not the user's.
const cacheDir = path.join(tmp, 'code-cache');
const storeCacheDir = path.join(tmp, 'store-cache');
const copy = path.join(tmp, 'qubes.xml');
const trees = [
  { label: '', dir: root, variants },
  ...(process.env.BENCH_TREES ?? '')
    .split(';')
    .filter(Boolean)
    .map((t) => ({ label: ` (${t.slice(0, t.indexOf('='))})`, dir: path.resolve(t.slice(t.indexOf('=') + 1)), variants: [variants[0]] })),
];

/** The cases: label, command, environment, and what to do before each run. */
const cases = [{ label: 'node -e 0 (baseline: Node start-up)', cmd: 'node', args: ['-e', '0'], env: {} }];
for (const t of trees) for (const variant of t.variants) {
  const v = { label: `${t.label}${variant.label}`, env: variant.env };
  const bin = (name) => path.join(t.dir, 'bin', name);
  for (const n of ['q10', 'q100', 'q1000'])
    cases.push({ label: `qvm-ls --offline-mode (${n}.xml)${v.label}`, cmd: bin('qvm-ls'), args: ['--offline-mode'], env: { QUBES_XML_PATH: path.join(vectors, `${n}.xml`), ...v.env } });
  cases.push({
    label: `qvm-prefs --offline-mode vm0500 memory N (q1000.xml: load, lock, save)${v.label}`,
    cmd: bin('qvm-prefs'),
    args: ['--offline-mode', 'vm0500', 'memory', '700'],
    env: { QUBES_XML_PATH: copy, ...v.env },
    before: () => fs.copyFileSync(path.join(vectors, 'q1000.xml'), copy),
  });
}

if (process.env.BENCH_ONLY) {
  const only = new RegExp(process.env.BENCH_ONLY);
  cases.splice(1, cases.length, ...cases.slice(1).filter((c) => only.test(c.label)));
}

const VALGRIND = ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', '--smc-check=all-non-file'];

/** Milliseconds, or millions of instructions (the shims are node scripts: run by node under valgrind). */
function runOnce(c) {
  c.before?.();
  const env = { ...process.env, QUBES_CODE_CACHE_DIR: cacheDir, QUBES_STORE_CACHE_DIR: storeCacheDir, ...c.env };
  const [cmd, args] = instructions ? ['valgrind', [...VALGRIND, 'node', ...(c.cmd === 'node' ? [] : [c.cmd]), ...c.args]] : [c.cmd, c.args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.cmd} ${c.args.join(' ')} failed: ${r.error ?? r.stderr}`);
  if (!instructions) return ms;
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (!m) throw new Error(`no instruction count from valgrind: ${r.stderr}`);
  return Number(m[1].replaceAll(',', '')) / 1e6;
}

const nodeVersion = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim();
// Warm-up: the page cache, and the code cache of the default variant.
for (const c of cases) runOnce(c);
const samples = cases.map(() => []);
for (let r = 0; r < runs; r++) {
  for (let k = 0; k < cases.length; k++) {
    const i = (k + r) % cases.length;
    samples[i].push(runOnce(cases[i]));
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const baseline = median(samples[0]);
const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
const what = instructions ? 'median of millions of instructions executed (valgrind)' : 'median wall time';
console.log(`${runs} interleaved runs each, ${what}; ${os.cpus().length} CPUs, load average ${load}; node ${nodeVersion} (first on PATH)\n`);
console.log(`| command | ${instructions ? 'median M instructions' : 'median ms'} | ratio to node -e 0 |`);
console.log('|---|---:|---:|');
cases.forEach((c, i) => {
  const ms = median(samples[i]);
  console.log(`| ${c.label} | ${ms.toFixed(1)} | ${(ms / baseline).toFixed(2)} |`);
});
