/**
 * A store on a given directory as the commands see it (offline, running
 * markers in a temporary directory), and the storage library opened the
 * way a command opens it, for start/stop.
 */
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../lib/app/store.js';
import { pathsFromEnv } from '../../lib/config.js';
import { storageContext } from '../../lib/storage/pools.js';
import { PoolSet, type QubeStorage } from '../../lib/storage/qube-storage.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { run, tmpDir } from '../helpers.js';

export const MiB = 1024 * 1024;

export function sha256(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(16 * MiB);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return h.digest('hex');
}

/** A file of `size` random bytes. */
export function randomFile(file: string, size: number): void {
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(16 * MiB);
  for (let off = 0; off < size; off += buf.length) {
    randomFillSync(buf);
    fs.writeSync(fd, buf, 0, Math.min(buf.length, size - off));
  }
  fs.closeSync(fd);
}

export interface StorageEnv {
  env: NodeJS.ProcessEnv;
  /** The store and storage library as a command would open them. */
  storage(vm: string): Promise<QubeStorage>;
  q(cmd: string, ...args: string[]): ReturnType<typeof run>;
  /** Run and require exit 0. */
  ok(cmd: string, ...args: string[]): string;
}

export function storageEnv(dir: string): StorageEnv {
  const runDir = tmpDir('qubes-run-');
  const env = {
    ...process.env,
    QUBES_XML_PATH: path.join(dir, 'qubes.xml'),
    QUBES_BASE_DIR: dir,
    QUBES_OFFLINE_MODE: '1',
    QUBES_RUN_DIR: runDir,
    NO_COLOR: '1',
  };
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  return {
    env,
    q,
    ok(cmd, ...args) {
      const r = q(cmd, ...args);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    },
    async storage(vm) {
      const app = new Store(pathsFromEnv(env), new OfflineVmm()).read();
      const found = app.domains.get(vm);
      if (!found) throw new Error(`no ${vm}`);
      return new PoolSet(app, storageContext(env)).qube(found);
    },
  };
}

/** Write `text` at the start of the running image of `vm:volume`. */
export async function writeRunning(s: StorageEnv, vm: string, volume: string, text: string): Promise<void> {
  const qs = await s.storage(vm);
  const v = qs.require(volume);
  const dev = v.pool.blockDevice(v.volume);
  if (!dev) throw new Error('no block device');
  const fd = fs.openSync(dev.path, 'r+');
  fs.writeSync(fd, text, 0);
  fs.closeSync(fd);
}
