// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A store for tests that run qubes on the system libvirtd with QEMU: a
 * loop-mounted XFS (file-reflink volumes) that QEMU's user can reach, the
 * run and QubesDB socket directory inside it, and the environment every
 * command of the test gets. `removeLiveStore` destroys and undefines the
 * test's domains, stops the QubesDB daemons the commands started, and
 * unmounts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mountLoopFs, type LoopFs } from '../storage/loopfs.js';

export const LIVE_URI = 'qemu:///system';

export interface LiveStore {
  lfs: LoopFs;
  env: NodeJS.ProcessEnv;
}

export function makeLiveStore(sizeMiB: number): LiveStore {
  const lfs = mountLoopFs('xfs', sizeMiB);
  // QEMU runs as its own user: it must reach the images
  for (let d = lfs.dir; d !== path.dirname(d) && d.startsWith('/tmp/'); d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const runDir = path.join(lfs.dir, 'run');
  fs.mkdirSync(runDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    QUBES_XML_PATH: path.join(lfs.dir, 'qubes.xml'),
    QUBES_BASE_DIR: lfs.dir,
    QUBES_RUN_DIR: runDir,
    QUBESDB_SOCKET_DIR: runDir,
    LIBVIRT_DEFAULT_URI: LIVE_URI,
    NO_COLOR: '1',
  };
  delete env.QUBES_OFFLINE_MODE;
  return { lfs, env };
}

export function removeLiveStore(store: LiveStore | undefined, domains: string[]): void {
  for (const n of domains) {
    spawnSync('virsh', ['-c', LIVE_URI, 'destroy', n]);
    spawnSync('virsh', ['-c', LIVE_URI, 'undefine', n]);
  }
  if (!store) return;
  const runDir = store.env.QUBES_RUN_DIR as string;
  for (const pid of fs.existsSync(runDir) ? fs.readdirSync(runDir).filter((f) => f.endsWith('.pid')) : [])
    try {
      process.kill(Number(fs.readFileSync(path.join(runDir, pid), 'utf8')), 'SIGTERM');
    } catch {
      // gone
    }
  store.lfs.unmount();
}
