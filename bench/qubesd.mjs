#!/usr/bin/env node
// qubesd latency and Qubes' own qvm-ls through it, side by side in one run
// (issue 12): `npm run bench:qubesd` after `npm run build`; figures go to
// bench/RESULTS.md. Offline, over a copy of q1000.xml (1004 qubes).
//
//   - one admin.vm.property.Get, and one admin.vm.List, through the socket
//     from a running Node process (connect, request, EOF, whole reply);
//   - Qubes' own qvm-ls (qubesadmin through run-tool.py, Debian's python3)
//     against the daemon, as it runs (one admin.vm.property.GetAll per
//     qube), and with its property cache forced off (one
//     admin.vm.property.Get per property shown: the client's path for a
//     server without GetAll), and our qvm-ls reading qubes.xml itself, as
//     whole processes, interleaved round by round.
//
//   BENCH_RUNS=N   rounds of the whole-process cases (default 7)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './measure.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.env.BENCH_RUNS || 7);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubesd-bench-'));
const xml = path.join(tmp, 'qubes.xml');
fs.copyFileSync(path.resolve(root, '..', 'shared', 'vectors', 'qubes-xml', 'q1000.xml'), xml);
fs.chmodSync(xml, 0o644);
const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: tmp, QUBES_OFFLINE_MODE: '1', QUBESD_SOCKET_DIR: tmp, QUBES_CODE_CACHE_DIR: path.join(tmp, 'cache') };
const socket = path.join(tmp, 'qubesd.sock');

const daemon = spawn(path.join(root, 'bin', 'qubesd'), [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
daemon.stderr.on('data', (d) => (log += d));
while (!log.includes('listening')) {
  if (daemon.exitCode !== null) throw new Error(`qubesd exited: ${log}`);
  await new Promise((r) => setTimeout(r, 20));
}

function call(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const c = net.connect(socket, () => c.end(req));
    c.on('data', (d) => chunks.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

async function latency(label, req, n) {
  const first = await call(req);
  if (first[0] !== 0x30) throw new Error(`${label}: ${first.toString()}`);
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await call(req);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { label, median: median(samples), p90: samples[Math.floor(n * 0.9)] };
}

const rows = [
  await latency('admin.vm.property.Get (vm0500 label), in-process client', Buffer.from('admin.vm.property.Get+label dom0 name vm0500\0'), 501),
  await latency('admin.vm.List (1004 qubes), in-process client', Buffer.from('admin.vm.List dom0 name dom0\0'), 101),
];

const whole = [
  { label: 'node -e 0 (baseline)', cmd: process.execPath, args: ['-e', '0'], env },
  { label: "Qubes' qvm-ls (qubesadmin) through qubesd", cmd: '/usr/bin/python3', args: [path.resolve(root, '..', 'shared', 'reference-client', 'run-tool.py'), 'qvm-ls'], env: { ...env, QUBESD_SOCKET: socket } },
  {
    label: "Qubes' qvm-ls through qubesd, its cache off (no GetAll)",
    cmd: '/usr/bin/python3',
    args: [
      '-c',
      // the client unmodified; only its cache switch is held off, so that it asks one property at a time
      `import runpy, sys; sys.path.insert(0, ${JSON.stringify(path.resolve(root, '..', 'shared', 'reference-client'))}); import qubesadmin.app as a; a.QubesBase.cache_enabled = property(lambda s: False, lambda s, v: None); sys.argv = ['run-tool.py', 'qvm-ls']; runpy.run_path(${JSON.stringify(path.resolve(root, '..', 'shared', 'reference-client', 'run-tool.py'))}, run_name='__main__')`,
    ],
    env: { ...env, QUBESD_SOCKET: socket },
  },
  { label: 'our qvm-ls, reading qubes.xml itself', cmd: path.join(root, 'bin', 'qvm-ls'), args: [], env },
];
const times = whole.map(() => []);
for (let r = 0; r <= runs; r++) {
  whole.forEach((c, i) => {
    const t0 = process.hrtime.bigint();
    const p = spawnSync(c.cmd, c.args, { env: c.env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (p.status !== 0) throw new Error(`${c.label}: exit ${p.status}: ${p.stderr}`);
    if (r > 0) times[i].push(ms); // round 0 warms caches
  });
}

daemon.kill('SIGTERM');
await new Promise((r) => daemon.on('exit', r));
fs.rmSync(tmp, { recursive: true, force: true });

console.log(`qubesd over q1000.xml (1004 qubes), offline; node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
console.log('| through the socket | median ms | p90 ms |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r.label} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} |`);
console.log(`\n| whole process (${runs} interleaved rounds) | median ms |\n|---|---:|`);
whole.forEach((c, i) => console.log(`| ${c.label} | ${median(times[i]).toFixed(0)} |`));
