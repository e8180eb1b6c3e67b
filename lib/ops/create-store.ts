// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A fresh store at installation time (qubes-create): the 8 default labels,
 * pools varlibqubes (file-reflink when the filesystem can clone files, else
 * file) and linux-kernel, default_pool_kernel, and dom0 with label black;
 * then each pool prepares its directories. An existing store is refused.
 *
 * Reference: qubes-core-admin: qubes/tools/qubes_create.py,
 * Qubes.load_initial_values; spec §1.1.
 */
import fs from 'node:fs';
import { Pool, Qubes } from '../app/app.js';
import { Labels } from '../app/labels.js';
import type { Store } from '../app/store.js';
import { kernelsDir } from '../config.js';
import { StoreError } from '../errors.js';
import { reflinkSupported } from '../storage/drivers/file-reflink.js';
import type { StorageContext } from '../storage/pool.js';
import { PoolSet } from '../storage/qube-storage.js';
import { ioReason } from '../util/io-error.js';
import { OfflineVmm } from '../vmm/offline-vmm.js';

/** The store contents of a fresh installation (not saved). */
function initialStore(baseDir: string, reflink: boolean): Qubes {
  const app = new Qubes(new OfflineVmm(), baseDir, Labels.defaults());
  app.pools.set(
    'varlibqubes',
    new Pool([
      ['name', 'varlibqubes'],
      ['dir_path', baseDir],
      ['driver', reflink ? 'file-reflink' : 'file'],
      ['revisions_to_keep', '1'],
      ['ephemeral_volatile', 'False'],
    ]),
  );
  app.pools.set(
    'linux-kernel',
    new Pool([
      ['name', 'linux-kernel'],
      ['dir_path', kernelsDir(baseDir)],
      ['driver', 'linux-kernel'],
    ]),
  );
  app.set('default_pool_kernel', 'linux-kernel');
  const dom0 = app.newVm('AdminVM');
  dom0.set('label', 'black');
  app.domains.add(dom0);
  return app;
}

/** Write the initial store and set up its pools. @throws StoreError when a store exists or its directory cannot be made */
export async function createStore(store: Store, storage: StorageContext): Promise<void> {
  const { baseDir } = store.paths;
  // The reflink probe needs the pool directory itself (QUBES_XML_PATH may put
  // the store elsewhere); Store.create makes the store's directory and
  // refuses an existing store under the lock.
  try {
    fs.mkdirSync(baseDir, { recursive: true });
  } catch (e) {
    throw new StoreError(`Cannot create directory ${baseDir}: ${ioReason(e)}`);
  }
  await store.create(initialStore(baseDir, reflinkSupported(baseDir)));
  // as the reference's load_initial_values: each pool prepares its directories
  for (const pool of await new PoolSet(store.read(), storage).all()) await pool.setup();
}
