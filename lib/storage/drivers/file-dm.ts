// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The device-mapper layering of the `file` driver, done in-process with
 * `losetup` and `dmsetup` through the command runner: what the Qubes
 * packages' `create-snapshot` and `destroy-snapshot` scripts do, which
 * these tools do not ship (and which a machine without the Qubes packages
 * lacks).
 *
 * Devices (names made by the driver from the files' device and inode):
 *   shared   snapshot-<img>-<cow>: `snapshot` of the image's loop device
 *            with the cow's as exception store (persistent, chunks of 256
 *            sectors): the state of the image when its origin started
 *   origin   origin-<img>: `snapshot-origin` of the image's loop device;
 *            writes go to the image, the blocks they replace to the cow
 *   snapshot snapshot-<src img>-<src cow>-<own cow>: `snapshot` of the
 *            shared device with the volume's own cow (an AppVM's root)
 * A shared device is made by whichever of its origin or snapshots starts
 * first, so qubes started while their template runs see the template's
 * state before it started. Loop devices are found or attached with
 * `losetup --find --nooverlap` (one per file, shared) and then detached at
 * once: the kernel frees a loop device held by a dm device when the last
 * holder closes it (autoclear), so tearing down is `dmsetup remove` only.
 *
 * A device still open (another holder) is left in place, as the scripts
 * leave it; a shared device goes once nothing uses it (no origin, no
 * snapshot on it).
 *
 * Reference: qubes-core-admin: linux/system-config/create-snapshot,
 * destroy-snapshot (spec storage.md §3.1, §8); kernel
 * Documentation/admin-guide/device-mapper/snapshot.rst.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StoragePoolError } from '../../errors.js';
import { asRoot, type CommandRunner } from '../command-runner.js';
import type { StorageContext } from '../pool.js';

/** dmsetup and losetup output is parsed: untranslated. */
const DM_ENV = { LC_ALL: 'C' };

/** Exception store chunks (sectors) of every snapshot: the header the file driver writes to new cows says 256. */
const CHUNK_SECTORS = 256;

/** Run a dm/loop command as root; its stdout. @throws StoragePoolError on a non-zero exit */
export async function dmRun(ctx: StorageContext, argv: [string, ...string[]]): Promise<string> {
  const r = await ctx.runner.run(asRoot(argv), { env: DM_ENV });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.exitCode}`;
    throw new StoragePoolError(`${argv[0]} ${argv[1]} failed: ${why}`);
  }
  return r.stdout;
}

const mapperPath = (ctx: StorageContext, name: string) => path.join(ctx.devDir, 'mapper', name);
export const dmExists = (ctx: StorageContext, name: string): boolean => fs.existsSync(mapperPath(ctx, name));

/** Sectors of an image file (its size in 512-byte units). */
function sectors(file: string): number {
  return Math.floor(fs.statSync(file).size / 512);
}

/** The loop device of a file: the one already attached to it, else a new one. */
async function loopOf(ctx: StorageContext, file: string): Promise<string> {
  const dev = (await dmRun(ctx, ['losetup', '--find', '--nooverlap', '--show', file])).trim();
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new StoragePoolError(`losetup gave no loop device for ${file}: '${dev}'`);
  return dev;
}

/**
 * Loop devices attached for a new dm device: detached once it holds them
 * (the kernel then frees each when its last holder closes it), or at once
 * when it was not made.
 */
async function withLoops<T>(ctx: StorageContext, files: string[], work: (loops: string[]) => Promise<T>): Promise<T> {
  const loops: string[] = [];
  try {
    for (const f of files) loops.push(await loopOf(ctx, f));
    return await work(loops);
  } finally {
    for (const l of loops) await ctx.runner.run(asRoot(['losetup', '--detach', l]), { env: DM_ENV });
  }
}

async function dmCreate(ctx: StorageContext, name: string, table: string): Promise<void> {
  await dmRun(ctx, ['dmsetup', 'create', name, '--table', table]);
}

/** The shared snapshot of an image and its cow, made when missing. @returns whether it was made here */
async function ensureShared(ctx: StorageContext, shared: string, img: string, cow: string): Promise<boolean> {
  if (dmExists(ctx, shared)) return false;
  await withLoops(ctx, [img, cow], ([base, exceptions]) => dmCreate(ctx, shared, `0 ${sectors(img)} snapshot ${base} ${exceptions} P ${CHUNK_SECTORS}`));
  return true;
}

/** Undo a shared snapshot made for a device that then failed. */
async function undoShared(ctx: StorageContext, made: boolean, shared: string): Promise<void> {
  if (made) await ctx.runner.run(asRoot(['dmsetup', 'remove', shared]), { env: DM_ENV });
}

/** The running copy of an origin volume: `origin` over the image, with its shared snapshot. */
export async function createOrigin(ctx: StorageContext, origin: string, shared: string, img: string, cow: string): Promise<void> {
  if (dmExists(ctx, origin)) return; // kept from a run that never stopped: the qube continues with it
  const made = await ensureShared(ctx, shared, img, cow);
  try {
    await withLoops(ctx, [img], ([base]) => dmCreate(ctx, origin, `0 ${sectors(img)} snapshot-origin ${base}`));
  } catch (e) {
    await undoShared(ctx, made, shared);
    throw e;
  }
}

/** The running copy of a snapshot volume: a snapshot of its source's shared snapshot, on its own cow. */
export async function createSnapshot(ctx: StorageContext, name: string, shared: string, srcImg: string, srcCow: string, ownCow: string): Promise<void> {
  if (dmExists(ctx, name)) return;
  const made = await ensureShared(ctx, shared, srcImg, srcCow);
  try {
    await withLoops(ctx, [ownCow], ([own]) =>
      dmCreate(ctx, name, `0 ${sectors(srcImg)} snapshot ${mapperPath(ctx, shared)} ${own} P ${CHUNK_SECTORS}`),
    );
  } catch (e) {
    await undoShared(ctx, made, shared);
    throw e;
  }
}

/** How many holders have a dm device open; undefined when it does not exist. */
async function openCount(ctx: StorageContext, name: string): Promise<number | undefined> {
  if (!dmExists(ctx, name)) return undefined;
  const out = (await dmRun(ctx, ['dmsetup', 'info', '-c', '--noheadings', '-o', 'open', name])).trim();
  const n = Number(out);
  if (!/^\d+$/.test(out)) throw new StoragePoolError(`dmsetup info gave no open count for ${name}: '${out}'`);
  return n;
}

/**
 * Remove a dm device unless something holds it open.
 * @returns whether it is gone
 */
export async function removeUnused(ctx: StorageContext, name: string): Promise<boolean> {
  const open = await openCount(ctx, name);
  if (open === undefined) return true;
  if (open > 0) return false;
  await dmRun(ctx, ['dmsetup', 'remove', name]);
  return true;
}

// ---- is device-mapper there? ----

const checked = new WeakMap<CommandRunner, Map<string, Promise<string | undefined>>>();

/**
 * Why this host cannot build the layering, or undefined when it can: the
 * device-mapper control node, `dmsetup` and a kernel that answers it, and
 * the snapshot targets (loaded, or a module the kernel can load).
 */
async function missing(ctx: StorageContext): Promise<string | undefined> {
  const control = path.join(ctx.devDir, 'mapper', 'control');
  if (!fs.existsSync(control)) return `no ${control}`;
  const targets = await ctx.runner.run(asRoot(['dmsetup', 'targets']), { env: DM_ENV });
  if (targets.exitCode === 127) return 'no dmsetup program';
  if (targets.exitCode !== 0) return `the kernel does not answer dmsetup: ${(targets.stderr || targets.stdout).trim().split('\n')[0]}`;
  const names = new Set(targets.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]));
  if (names.has('snapshot') && names.has('snapshot-origin')) return undefined;
  const module = await ctx.runner.run(asRoot(['modprobe', '--dry-run', 'dm-snapshot']), { env: DM_ENV });
  return module.exitCode === 0 ? undefined : 'no dm-snapshot target';
}

/**
 * @throws StoragePoolError naming what is missing, for pool `pool`;
 *   asked once per command (runner and device directory)
 */
export async function requireDeviceMapper(ctx: StorageContext, pool: string): Promise<void> {
  let byDir = checked.get(ctx.runner);
  if (!byDir) checked.set(ctx.runner, (byDir = new Map()));
  let answer = byDir.get(ctx.devDir);
  if (!answer) byDir.set(ctx.devDir, (answer = missing(ctx)));
  const why = await answer;
  if (why !== undefined)
    throw new StoragePoolError(`pool ${pool} (file driver) needs device-mapper to start its qubes, which this host lacks: ${why}; use a file-reflink or lvm_thin pool`);
}
