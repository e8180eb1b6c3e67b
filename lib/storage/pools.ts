// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * From a `<pool/>` record to its driver, loaded on first use (a command
 * that touches only file pools never loads the lvm code), and the storage
 * context from the environment.
 */
import type { Pool } from '../app/app.js';
import { callbackConfigPath, devDir, lockTimeoutMs, runDir, type Env } from '../config.js';
import { StoragePoolError } from '../errors.js';
import { namingPool } from './callback-config.js';
import { commandRunner } from './command-runner.js';
import { isDriverName, type DriverName } from './driver-names.js';
import type { StorageContext, StoragePool } from './pool.js';

/**
 * Makes the driver instance of a record. `open` opens another record the
 * same way: a callback pool opens the pool it wraps with it.
 */
export type PoolOpener = (record: Pool, ctx: StorageContext, open: typeof openPool) => StoragePool | Promise<StoragePool>;

type PoolClass = new (record: Pool, ctx: StorageContext) => StoragePool;
const construct =
  (Cls: PoolClass): PoolOpener =>
  (record, ctx) =>
    new Cls(record, ctx);

const LOADERS: Record<DriverName, () => Promise<PoolOpener>> = {
  callback: async () => (await import('./drivers/callback.js')).openCallbackPool,
  file: async () => construct((await import('./drivers/file.js')).FilePool),
  'file-reflink': async () => construct((await import('./drivers/file-reflink.js')).ReflinkPool),
  'linux-kernel': async () => construct((await import('./drivers/linux-kernel.js')).LinuxKernelPool),
  lvm_thin: async () => construct((await import('./drivers/lvm-thin.js')).ThinPool),
  zfs: async () => construct((await import('./drivers/zfs.js')).ZfsPool),
};

/**
 * The driver instance of a pool record.
 * @throws StoragePoolError for an unknown driver or bad options
 */
export async function openPool(record: Pool, ctx: StorageContext): Promise<StoragePool> {
  if (!isDriverName(record.driver)) throw new StoragePoolError(`Storage pool ${record.name}: unknown driver '${record.driver}'`);
  const open = await loadDriver(record.driver);
  return open(record, ctx, openPool);
}

const loaded = new Map<DriverName, Promise<PoolOpener>>();

/** Each driver module is imported once, however many pools use it. */
function loadDriver(name: DriverName): Promise<PoolOpener> {
  let p = loaded.get(name);
  if (!p) loaded.set(name, (p = LOADERS[name]()));
  return p;
}

/**
 * The storage context of a command's environment: the run directory
 * (running markers, volume locks), the device directory, the lock wait
 * and the callback pools' configuration (lib/config.ts names them).
 */
export function storageContext(env: Env, now: () => number = Date.now): StorageContext {
  return {
    runner: commandRunner(env),
    now,
    runDir: runDir(env),
    devDir: devDir(env),
    lockTimeoutMs: lockTimeoutMs(env),
    callbackConfig: callbackConfigPath(env),
  };
}

/**
 * For new qubes' volume plans (RecordRequest.namingPool): the pool whose
 * driver names a pool's volumes (a callback pool's wrapped pool).
 */
export function volumeNaming(ctx: StorageContext): (record: Pool) => Pool {
  return (record) => namingPool(record, ctx.callbackConfig ?? callbackConfigPath({}));
}
