// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * From a `<pool/>` record to its driver, loaded on first use (a command
 * that touches only file pools never loads the lvm code), and the storage
 * context from the environment.
 */
import type { Pool } from '../app/app.js';
import { StoragePoolError } from '../errors.js';
import { execaRunner } from './command-runner.js';
import { isDriverName, type DriverName } from './driver-names.js';
import type { StorageContext, StoragePool } from './pool.js';

type PoolClass = new (record: Pool, ctx: StorageContext) => StoragePool;

const LOADERS: Record<DriverName, () => Promise<PoolClass>> = {
  file: async () => (await import('./drivers/file.js')).FilePool,
  'file-reflink': async () => (await import('./drivers/file-reflink.js')).ReflinkPool,
  'linux-kernel': async () => (await import('./drivers/linux-kernel.js')).LinuxKernelPool,
  lvm_thin: async () => (await import('./drivers/lvm-thin.js')).ThinPool,
};

/**
 * The driver instance of a pool record.
 * @throws StoragePoolError for an unknown driver or bad options
 */
export async function openPool(record: Pool, ctx: StorageContext): Promise<StoragePool> {
  if (!isDriverName(record.driver)) throw new StoragePoolError(`Storage pool ${record.name}: unknown driver '${record.driver}'`);
  const Cls = await loadDriver(record.driver);
  return new Cls(record, ctx);
}

const loaded = new Map<DriverName, Promise<PoolClass>>();

/** Each driver module is imported once, however many pools use it. */
function loadDriver(name: DriverName): Promise<PoolClass> {
  let p = loaded.get(name);
  if (!p) loaded.set(name, (p = LOADERS[name]()));
  return p;
}

/** Test hooks: QUBES_RUN_DIR (running markers), QUBES_DEV_DIR (device nodes). */
export function storageContext(env: NodeJS.ProcessEnv = process.env): StorageContext {
  return {
    runner: execaRunner,
    now: () => Date.now(),
    runDir: env.QUBES_RUN_DIR || '/var/run/qubes',
    devDir: env.QUBES_DEV_DIR || '/dev',
  };
}
