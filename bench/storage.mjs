#!/usr/bin/env node
// Storage benchmark (not a test; needs root for the loop mounts and a
// build): on a loop-mounted XFS, start+stop of a qube's volumes and a
// volume clone for a 1 GiB and a 64 GiB sparse private image each holding
// 1 GiB of data (file-reflink: both should cost the same, under 50 ms);
// then on ext4 the sparse-copy fallback of file-reflink (setup_check=no)
// against `cp --sparse=always` on the same image. Medians of BENCH_RUNS.
//
//   node bench/storage.mjs
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianMs } from './measure.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = (p) => import(path.join(root, 'dist', 'lib', p));
const { Store } = await lib('app/store.js');
const { pathsFromEnv } = await lib('config.js');
const { storageContext } = await lib('storage/pools.js');
const { PoolSet } = await lib('storage/qube-storage.js');
const { cloneOrCopy, importFile } = await lib('storage/copy-data.js');
const { OfflineVmm } = await lib('vmm/offline-vmm.js');

const runs = Number(process.env.BENCH_RUNS || 9);
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function mount(type, sizeMiB) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `qubes-bench-${type}-`));
  const image = path.join(work, 'fs.img');
  const dir = path.join(work, 'mnt');
  fs.mkdirSync(dir);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, sizeMiB * MiB);
  execFileSync(type === 'xfs' ? 'mkfs.xfs' : 'mkfs.ext4', ['-q', ...(type === 'ext4' ? ['-F'] : []), image]);
  execFileSync('mount', ['-o', 'loop', image, dir]);
  return { dir, done: () => (execFileSync('umount', [dir]), fs.rmSync(work, { recursive: true, force: true })) };
}

/**
 * A sparse file of `size` bytes holding 1 GiB of random data at its start
 * (the same extents whatever the size: what differs is only the holes).
 * BENCH_SPREAD=1 spreads the data in 1 MiB pieces over the whole size
 * instead (1024 extents: FICLONE costs grow with extents, not size).
 */
function dataImage(file, size) {
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(MiB);
  const step = process.env.BENCH_SPREAD ? size / 1024 : MiB;
  for (let i = 0; i < 1024; i++) fs.writeSync(fd, randomFillSync(buf), 0, MiB, i * step);
  fs.ftruncateSync(fd, size);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

function env(dir) {
  return {
    ...process.env,
    QUBES_XML_PATH: path.join(dir, 'qubes.xml'),
    QUBES_BASE_DIR: dir,
    QUBES_OFFLINE_MODE: '1',
    QUBES_RUN_DIR: path.join(dir, 'run'),
  };
}

function q(e, cmd, ...args) {
  const r = spawnSync(path.join(root, 'bin', cmd), args, { env: e, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

async function open(e) {
  const app = new Store(pathsFromEnv(e), new OfflineVmm()).read();
  return new PoolSet(app, storageContext(e));
}

/** Put `file` into vm:private through the driver's import (a reflink of the file). */
async function fill(e, vm, file, size) {
  const pools = await open(e);
  const { volume, pool } = (await pools.qube(pools.app.domains.get(vm))).require('private');
  const target = await pool.importData(volume, size);
  await importFile(file, target, size, pools.ctx.runner);
  await pool.importDataEnd(volume, true);
  fs.rmSync(file);
}

const timeIt = (fn) => medianMs(runs, fn);

const rows = [];

// ---- reflink on XFS -----------------------------------------------------------
{
  const m = mount('xfs', 4096);
  try {
    const e = env(m.dir);
    q(e, 'qubes-create');
    for (const [vm, size] of [
      ['g1', GiB],
      ['g64', 64 * GiB],
    ]) {
      q(e, 'qvm-create', '-C', 'StandaloneVM', vm, '-l', 'red');
      q(e, 'qvm-create', '-C', 'StandaloneVM', `${vm}-copy`, '-l', 'red');
      const file = path.join(m.dir, `${vm}.raw`);
      dataImage(file, size);
      await fill(e, vm, file, size);
      const pools = await open(e);
      const storage = await pools.qube(pools.app.domains.get(vm));
      const startStop = await timeIt(async () => {
        await storage.start();
        const problems = await storage.stop();
        if (problems.length) throw new Error(problems.join('; '));
      });
      const src = storage.require('private');
      const dst = (await pools.qube(pools.app.domains.get(`${vm}-copy`))).require('private');
      const clone = await timeIt(() => dst.pool.importVolume(dst.volume, src.volume, src.pool));
      rows.push([`file-reflink (XFS), ${size / GiB} GiB private with 1 GiB data: start+stop of all volumes`, startStop]);
      rows.push([`file-reflink (XFS), ${size / GiB} GiB private with 1 GiB data: clone of the private volume`, clone]);
    }
  } finally {
    m.done();
  }
}

// ---- sparse-copy fallback on ext4 -----------------------------------------------
{
  const m = mount('ext4', 16384);
  try {
    const e = env(m.dir);
    q(e, 'qubes-create');
    q(e, 'qvm-pool', 'add', 'rl', 'file-reflink', '-o', `dir_path=${path.join(m.dir, 'rl')}`, '-o', 'setup_check=no', '-o', 'revisions_to_keep=0');
    q(e, 'qvm-create', '-C', 'StandaloneVM', '-P', 'rl', 'sa', '-l', 'red');
    q(e, 'qvm-create', '-C', 'StandaloneVM', '-P', 'rl', 'sb', '-l', 'red');
    const file = path.join(m.dir, 'sa.raw');
    dataImage(file, 16 * GiB);
    await fill(e, 'sa', file, 16 * GiB);
    const pools = await open(e);
    const src = (await pools.qube(pools.app.domains.get('sa'))).require('private');
    const dst = (await pools.qube(pools.app.domains.get('sb'))).require('private');
    const ours = await timeIt(() => dst.pool.importVolume(dst.volume, src.volume, src.pool));
    const srcImg = path.join(m.dir, 'rl', 'appvms', 'sa', 'private.img');
    const out = path.join(m.dir, 'cp-copy.img');
    const primitive = await timeIt(async () => {
      fs.rmSync(out, { force: true });
      await cloneOrCopy(srcImg, out, pools.ctx.runner);
      execFileSync('sync', ['-f', out]);
    });
    const cp = await timeIt(() => {
      fs.rmSync(out, { force: true });
      execFileSync('cp', ['--sparse=always', '--', srcImg, out]);
      execFileSync('sync', ['-f', out]);
    });
    rows.push(['file-reflink fallback (ext4, setup_check=no): volume clone, 16 GiB private with 1 GiB data (copy + precache copy)', ours]);
    rows.push(['fallback copy primitive (cloneOrCopy) of that image + sync', primitive]);
    rows.push(['cp --sparse=always + sync of the same image (baseline)', cp]);
    rows.push(['ratio volume clone / cp', ours / cp]);
    rows.push(['ratio copy primitive / cp', primitive / cp]);
  } finally {
    m.done();
  }
}

for (const [what, v] of rows) console.log(`${what.padEnd(100)} ${what.startsWith('ratio') ? v.toFixed(2) : `${v.toFixed(1)} ms`}`);
