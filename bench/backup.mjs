#!/usr/bin/env node
// Backup and restore throughput (not a test): one qube whose private volume
// holds SIZE of random data (default 1 GiB; BENCH_BACKUP_GIB=4 for 4 GiB),
// backed up with default options (gzip, encrypted, scrypt N=2^20), against
// a plain `tar --sparse | gzip` of the same image (the floor); restored,
// against the emergency procedure's pipeline (tar -i, scrypt dec per chunk,
// gzip -d | tar -x). Wall time and peak RSS (GNU time). Needs `npm run
// build`, GNU time and scrypt. Figures go to bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const gib = Number(process.env.BENCH_BACKUP_GIB || 1);
const size = gib * 1024 ** 3;
const pass = 'bench passphrase';
const tmp = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'qubes-bench-backup-'));
const bin = (n) => path.join(root, 'bin', n);

function store(name) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const env = { ...process.env, QUBES_XML_PATH: path.join(dir, 'qubes.xml'), QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', QUBES_RUN_DIR: path.join(dir, 'run') };
  delete env.QUBES_BACKUP_SCRYPT_LOGN;
  return { dir, env };
}

/** Run under GNU time: wall seconds and peak RSS (MiB). */
function measure(label, cmd, args, opts = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [wall, rssKb] = last.split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const row = { label, wall, rssMiB: Math.round(rssKb / 1024) };
  console.log(`${label}: ${wall.toFixed(1)} s, peak RSS ${row.rssMiB} MiB`);
  return row;
}

const src = store('src');
const run = (cmd, args, env) => {
  const r = spawnSync(bin(cmd), args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
};
run('qubes-create', [], src.env);
run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', 'tpl'], src.env);
run('qvm-create', ['-l', 'blue', '-t', 'tpl', 'work'], src.env);
const img = path.join(src.dir, 'appvms', 'work', 'private.img');
fs.truncateSync(img, Math.max(size, fs.statSync(img).size));
{
  const fd = fs.openSync(img, 'r+');
  const buf = Buffer.alloc(16 * 1024 * 1024);
  for (let off = 0; off < size; off += buf.length) {
    crypto.randomFillSync(buf);
    fs.writeSync(fd, buf, 0, buf.length, off);
  }
  fs.closeSync(fd);
}
const passFile = path.join(tmp, 'pass');
fs.writeFileSync(passFile, `${pass}\n`);
// warm the page cache for every contender alike
spawnSync('cat', [img], { stdio: ['ignore', 'ignore', 'ignore'] });

const dest = path.join(tmp, 'dest');
fs.mkdirSync(dest);
const rows = [];
rows.push(measure(`qvm-backup (${gib} GiB random, gzip, encrypted)`, bin('qvm-backup'), ['-y', '-q', '-p', passFile, dest, 'work'], { env: src.env }));
const backup = path.join(dest, fs.readdirSync(dest)[0]);
// BENCH_RSS_ONLY=1: only our two commands (the 4 GiB memory check)
const full = !process.env.BENCH_RSS_ONLY;
if (full) rows.push(measure('floor: tar --sparse | gzip > /dev/null', 'bash', ['-c', `tar -c --sparse -C ${path.dirname(img)} -f - private.img | gzip > /dev/null`]));

const dst = store('dst');
run('qubes-create', [], dst.env);
run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', 'tpl'], dst.env);
rows.push(measure('qvm-backup-restore', bin('qvm-backup-restore'), ['-q', '-p', passFile, '--skip-dom0-home', backup, 'work'], { env: dst.env }));

const em = path.join(tmp, 'em');
fs.mkdirSync(em);
const script = `set -euo pipefail
backup_pass=$(head -n1 ${passFile})
tar -i -xf ${backup} backup-header
backup_id=$(sed -n 's/^backup-id=//p' backup-header)
tar -i -xf ${backup} vm2/
for c in $(ls vm2/private.img.*.enc | sort -V); do printf '%s' "$backup_id!\${c%.enc}!$backup_pass" | scrypt dec -P "$c" "\${c%.enc}"; done
cat $(ls vm2/private.img.*.enc | sort -V | sed 's/\\.enc$//') | gzip -d | tar -x`;
if (full) rows.push(measure('emergency procedure: tar -i, scrypt dec per chunk, gzip -d | tar -x', 'bash', ['-c', script], { cwd: em }));
const restored = path.join(dst.dir, 'appvms', 'work', 'private.img');
const same = spawnSync('cmp', [img, restored]).status === 0 && (!full || spawnSync('cmp', [img, path.join(em, 'vm2', 'private.img')]).status === 0);
console.log(`restored images identical to the source: ${same}`);
console.log(`backup file: ${(fs.statSync(backup).size / 1024 ** 2).toFixed(0)} MiB, ${os.availableParallelism()} cores`);
console.log(JSON.stringify(rows));
fs.rmSync(tmp, { recursive: true, force: true });
if (!same) process.exit(1);
