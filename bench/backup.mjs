#!/usr/bin/env node
// Backup and restore side by side with the reference (not a test): for each
// size (BENCH_SIZES_MIB, default "1024,32") and each volume kind — random
// data, and a realistic volume (an ext4 image holding a copy of a directory
// tree, BENCH_TREE, default /usr/share: compressible, with holes, built by
// mkfs.ext4 -d without mounting) — one qube whose private volume is that
// image is backed up with default settings (gzip, encrypted, scrypt N=2^20)
// by the reference (qubes-core-admin offline, bench/ref-backup.py) and by
// our qvm-backup, then restored by the reference's own restore code
// (test/backup/ref-read.py over qubesadmin.backup.restore), by our
// qvm-backup-restore and by the emergency procedure's pipeline (tar -i,
// the header checked as Qubes' emergency recovery page says: backup-header.hmac
// decrypted and compared with backup-header; then scrypt dec per chunk,
// gzip -d | tar -x; qubes.xml is not decrypted: the bench knows the
// member's path), every restored image compared
// with the source. BENCH_RUNS runs each (default 3): medians of wall time
// and peak RSS (GNU time), and the ratios. Needs `npm run build`, GNU time,
// scrypt, mkfs.ext4 and the reference's Python modules.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.join(root, '..', 'shared');
const sizes = (process.env.BENCH_SIZES_MIB || '1024,32').split(',').map(Number);
const runs = Number(process.env.BENCH_RUNS || 3);
const kinds = (process.env.BENCH_KINDS || 'random,ext4').split(',');
const tree = process.env.BENCH_TREE || '/usr/share';
const tmp = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'qubes-bench-backup-'));
const bin = (n) => path.join(root, 'bin', n);
const MiB = 1024 ** 2;
const passFile = path.join(tmp, 'pass');
fs.writeFileSync(passFile, 'bench passphrase\n');

/** Run under GNU time: wall seconds and peak RSS (MiB) of the largest process. */
function measure(cmd, args, opts = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  const [wall, rssKb] = last.split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { wall, rss: Math.round(rssKb / 1024) };
}

const must = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};

function store(name) {
  const dir = path.join(tmp, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
  const env = { ...process.env, QUBES_XML_PATH: path.join(dir, 'qubes.xml'), QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', QUBES_RUN_DIR: path.join(dir, 'run'), QUBES_DOM0_HOME: path.join(dir, 'home') };
  delete env.QUBES_BACKUP_SCRYPT_LOGN;
  delete env.QUBES_BACKUP_CHUNK_SIZE;
  must(bin('qubes-create'), [], { env });
  must(bin('qvm-create'), ['-C', 'TemplateVM', '-l', 'black', 'tpl'], { env });
  return { dir, env };
}

/** The source image of a kind and size. */
function makeImage(kind, size) {
  const img = path.join(tmp, `${kind}-${size}.img`);
  if (kind === 'random') {
    const fd = fs.openSync(img, 'w');
    const buf = Buffer.alloc(Math.min(size, 16 * MiB));
    for (let off = 0; off < size; off += buf.length) fs.writeSync(fd, crypto.randomFillSync(buf), 0, Math.min(buf.length, size - off), off);
    fs.closeSync(fd);
    return img;
  }
  // the largest part of the tree that fills at most 70% of the image
  let dir = tree;
  const du = (d) => Number(must('du', ['-sb', d]).split('\t')[0]);
  if (du(dir) > size * 0.7) {
    const subs = fs.readdirSync(tree).map((n) => path.join(tree, n)).filter((d) => fs.statSync(d).isDirectory()).map((d) => [d, du(d)]).filter(([, n]) => n <= size * 0.7).sort((a, b) => b[1] - a[1]);
    if (!subs.length) throw new Error(`nothing in ${tree} fits ${size} bytes`);
    dir = subs[0][0];
  }
  must('mkfs.ext4', ['-q', '-F', '-d', dir, img, `${Math.floor(size / 1024)}k`]);
  return img;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const emergency = (backup, member) => `set -euo pipefail
backup_pass=$(head -n1 ${passFile})
tar -i -xf ${backup} backup-header backup-header.hmac
printf '%s' "backup-header!$backup_pass" | scrypt dec -f -P backup-header.hmac backup-header.verified
cmp -s backup-header backup-header.verified
backup_id=$(sed -n 's/^backup-id=//p' backup-header)
tar -i -xf ${backup} ${path.dirname(member)}/
for c in $(ls ${member}.*.enc | sort -V); do printf '%s' "$backup_id!\${c%.enc}!$backup_pass" | scrypt dec -f -P "$c" "\${c%.enc}"; rm "$c"; done
cat $(ls ${member}.* | sort -V) | gzip -d | tar -x`;

/** The N of the reference's header container, as `scrypt info` shows it. */
function refScryptN(backup) {
  const d = fs.mkdtempSync(path.join(tmp, 'info-'));
  must('tar', ['-i', '-xf', backup, '-C', d, 'backup-header.hmac']);
  const info = spawnSync('scrypt', ['info', path.join(d, 'backup-header.hmac')], { encoding: 'utf8' });
  const n = /N = (\d+)/.exec(info.stdout + info.stderr)?.[1] ?? '?';
  fs.rmSync(d, { recursive: true });
  return n === '?' ? n : `2^${Math.log2(Number(n))}`;
}

const results = [];
for (const size of sizes)
  for (const kind of kinds) {
    const img = makeImage(kind, size * MiB);
    const rows = { refBackup: [], ourBackup: [], refRestore: [], ourRestore: [], emergency: [] };
    let refLogN = '';
    let same = true;
    for (let run = 0; run < runs; run++) {
      // the reference's backup of the image
      const refOut = path.join(tmp, 'ref-backup');
      fs.rmSync(refOut, { force: true });
      spawnSync('cat', [img], { stdio: 'ignore' });
      rows.refBackup.push(measure(path.join(shared, 'reference-core', 'ref-python'), [path.join(root, 'bench', 'ref-backup.py'), path.join(tmp, 'ref-base'), refOut, img, 'gz'], { env: { ...process.env, BENCH_PASS_FILE: passFile } }));
      // the scrypt utility picks the reference's N for this machine's speed at the time (ours: N=2^20)
      if (run === 0) refLogN = refScryptN(refOut);
      // ours
      const src = store('src');
      must(bin('qvm-create'), ['-l', 'blue', '-t', 'tpl', 'work'], { env: src.env });
      const priv = path.join(src.dir, 'appvms', 'work', 'private.img');
      must('cp', ['--sparse=always', img, priv]);
      spawnSync('cat', [priv], { stdio: 'ignore' });
      const dest = path.join(tmp, 'dest');
      fs.rmSync(dest, { recursive: true, force: true });
      fs.mkdirSync(dest);
      rows.ourBackup.push(measure(bin('qvm-backup'), ['-y', '-q', '-p', passFile, dest, 'work'], { env: src.env }));
      const ours = path.join(dest, fs.readdirSync(dest)[0]);
      // the reference's restore of its backup (vm2 as it names the qube's directory)
      const refRest = path.join(tmp, 'ref-restore');
      fs.rmSync(refRest, { recursive: true, force: true });
      fs.mkdirSync(refRest);
      rows.refRestore.push(measure('/usr/bin/python3', [path.join(root, 'test', 'backup', 'ref-read.py'), refOut, passFile, refRest, 'work'], { env: { ...process.env, PYTHONPATH: path.join(shared, 'reference-client') } }));
      same &&= spawnSync('cmp', [img, path.join(refRest, 'work', 'private.img')]).status === 0;
      fs.rmSync(refRest, { recursive: true, force: true });
      // ours
      const dst = store('dst');
      rows.ourRestore.push(measure(bin('qvm-backup-restore'), ['-q', '-p', passFile, ours, 'work'], { env: dst.env }));
      same &&= spawnSync('cmp', [img, path.join(dst.dir, 'appvms', 'work', 'private.img')]).status === 0;
      fs.rmSync(dst.dir, { recursive: true, force: true });
      // the emergency procedure's pipeline on ours
      const em = path.join(tmp, 'em');
      fs.rmSync(em, { recursive: true, force: true });
      fs.mkdirSync(em);
      const member = must('bash', ['-c', `tar -i -tf ${ours} | sed -n 's/\\.000\\.enc$//p' | grep private.img`]).trim();
      rows.emergency.push(measure('bash', ['-c', emergency(ours, member)], { cwd: em }));
      same &&= spawnSync('cmp', [img, path.join(em, member)]).status === 0;
      fs.rmSync(em, { recursive: true, force: true });
      fs.rmSync(src.dir, { recursive: true, force: true });
      fs.rmSync(refOut, { force: true });
    }
    const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, { wall: median(v.map((r) => r.wall)), rss: median(v.map((r) => r.rss)) }]));
    const line = {
      size: `${size} MiB`,
      kind,
      runs,
      ...Object.fromEntries(Object.entries(m).map(([k, v]) => [k, `${v.wall.toFixed(1)} s, ${v.rss} MiB`])),
      backupSpeedup: +(m.refBackup.wall / m.ourBackup.wall).toFixed(2),
      restoreSpeedup: +(m.refRestore.wall / m.ourRestore.wall).toFixed(2),
      restoreVsEmergency: +(m.emergency.wall / m.ourRestore.wall).toFixed(2),
      identical: same,
      referenceScryptN: refLogN,
    };
    console.log(JSON.stringify(line));
    results.push(line);
    fs.rmSync(img, { force: true });
  }
console.log(`${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
fs.rmSync(tmp, { recursive: true, force: true });
if (results.some((r) => !r.identical)) process.exit(1);
