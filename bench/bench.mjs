#!/usr/bin/env node
// Wall-clock benchmark of whole commands (process start to exit), medians of
// several runs, with Node's own start-up (`node -e 0`) measured in the same
// run as the baseline the machine can reproduce. Not a test: run it with
// `npm run bench` after `npm run build`; figures go to bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vectors = path.resolve(root, '..', 'shared', 'vectors', 'qubes-xml');
const runs = Number(process.env.BENCH_RUNS || 11);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(cmd, args, env, prepare) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    prepare?.();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    samples.push(ms);
  }
  return median(samples);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-bench-'));
const rows = [];
const nodeStart = time(process.execPath, ['-e', '0'], {});
rows.push(['node -e 0 (baseline: Node start-up)', nodeStart]);
for (const n of ['q10', 'q100', 'q1000']) {
  const env = { QUBES_XML_PATH: path.join(vectors, `${n}.xml`) };
  rows.push([`qvm-ls --offline-mode (${n}.xml)`, time(path.join(root, 'bin', 'qvm-ls'), ['--offline-mode'], env)]);
}
const copy = path.join(tmp, 'qubes.xml');
let mem = 700;
rows.push([
  'qvm-prefs --offline-mode vm0500 memory N (q1000.xml: load, lock, save)',
  time(path.join(root, 'bin', 'qvm-prefs'), ['--offline-mode', 'vm0500', 'memory', String(mem)], { QUBES_XML_PATH: copy }, () => {
    fs.copyFileSync(path.join(vectors, 'q1000.xml'), copy);
  }),
]);
fs.rmSync(tmp, { recursive: true, force: true });

console.log(`${runs} runs each, median wall time; ${os.cpus().length} CPUs, node ${process.version}\n`);
console.log('| command | median ms | ratio to node -e 0 |');
console.log('|---|---:|---:|');
for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} | ${(ms / nodeStart).toFixed(2)} |`);
