// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-create: a new qube's record, its volumes made outside the store lock
 * (lib/ops/new-qube.ts), and the root image imported from a file (-r/-R).
 */
import fs from 'node:fs';
import type { Qubes } from '../app/app.js';
import { QubesCancelledError, QubesError, QubesValueError, QubesVMNotFoundError } from '../errors.js';
import { importFile } from '../storage/copy-data.js';
import { counterFor } from '../storage/copy-watch.js';
import { openImportSource } from '../storage/import-source.js';
import type { StorageContext } from '../storage/pool.js';
import { volumeNaming } from '../storage/pools.js';
import type { QubeStorage } from '../storage/qube-storage.js';
import { addTag } from '../vm/admin-extension.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { addVmRecord, copyAttributes, syncKernelVid, type PoolChoice } from '../app/vm-factory.js';
import type { VmClass } from '../vm/vm-properties.js';
import type { Store } from '../app/store.js';
import { createWithStorage, volumeSize, type RecordedQube } from './new-qube.js';
import { autostartChanged, autostarts } from './autostart.js';

export interface CreateRequest {
  klass: VmClass;
  name?: string;
  label: string;
  template?: string;
  pools: PoolChoice;
  /** `--prop` values other than name/label/template, in command-line order. */
  props: [string, string][];
  /** qvm-create -r/-R: the root volume's data comes from this file (moved with `moveRoot`). */
  rootFile?: string;
  moveRoot?: boolean;
  /** Tags the new qube gets besides created-by-dom0 (the Admin API's disp-created-by-CALLER). */
  tags?: string[];
}

export interface CreateResult {
  name: string;
  propErrors: { prop: string; message: string }[];
  warnings: string[];
}

/**
 * Create a qube (qvm-create). A StandaloneVM with a template is a copy of
 * that template (properties, features, tags, root data; private starts
 * empty; issue #3793). A root file replaces the root volume's data before
 * the qube is saved. `check` runs first (the tool's argument checks that
 * need the store). `signal` cancels: nothing is kept.
 */
export async function createQube(store: Store, storage: StorageContext, req: CreateRequest, check?: (app: Qubes) => void, signal?: AbortSignal): Promise<CreateResult> {
  let propErrors: CreateResult['propErrors'] = [];
  let autostart = false;
  const { rootFile } = req;
  const { name, notes } = await createWithStorage(
    store,
    storage,
    (app, planned) => {
      check?.(app);
      propErrors = [];
      let vm: QubesVM;
      let copyFrom: RecordedQube['copyFrom'];
      const name = planned ?? req.name;
      if (req.klass === 'StandaloneVM' && req.template !== undefined) {
        const src = app.domains.get(req.template);
        if (!src) throw new QubesVMNotFoundError(req.template);
        vm = addVmRecord(app, {
          klass: 'StandaloneVM',
          name,
          label: req.label,
          pools: req.pools,
          sizeOf: (vol) => (vol === 'root' ? volumeSize(src, 'root') : undefined),
          namingPool: volumeNaming(storage),
        });
        copyAttributes(src, vm, false);
        vm.set('label', req.label);
        copyFrom = { src: src.name, volumes: ['root'] };
      } else {
        vm = addVmRecord(app, { ...req, name, namingPool: volumeNaming(storage) });
      }
      for (const [prop, value] of req.props) {
        try {
          vm.set(prop, value);
        } catch (e) {
          propErrors.push({ prop, message: (e as Error).message });
        }
      }
      for (const t of req.tags ?? []) addTag(vm, t);
      syncKernelVid(vm);
      autostart = autostarts(vm);
      return { vm, copyFrom };
    },
    { signal, fill: rootFile === undefined ? undefined : async (storage, ctx) => [await importRoot(storage, rootFile, ctx)] },
  );
  if (rootFile !== undefined && req.moveRoot) fs.rmSync(rootFile, { force: true });
  // created with autostart: its unit is enabled, as the reference does once the qube is on disk
  const unit = await autostartChanged(storage.runner, name, autostart, true);
  return { name, propErrors, warnings: unit ? [...notes, unit] : notes };
}

/**
 * Replace the root volume's data with `file` (qvm-create -r/-R), a regular
 * file (a character device, FIFO or socket is refused: it may never end);
 * a file larger than the volume grows it. Returns the volume's name.
 */
async function importRoot(storage: QubeStorage, file: string, ctx: StorageContext): Promise<string> {
  const { volume, pool } = storage.require('root');
  if (!volume.isOrigin) throw new QubesError(`The root volume of ${storage.vmName} is not persistent`);
  const source = openImportSource(file);
  fs.closeSync(source.fd);
  if (source.length === undefined) throw new QubesValueError(`${file} is a block device; the root image must be a regular file`);
  const size = Math.max(source.length, await pool.size(volume));
  const target = await pool.importData(volume, size);
  try {
    await importFile(file, target, size, ctx.runner, ctx.signal, counterFor(ctx.watchCopy, volume.vid));
  } catch (e) {
    await pool.importDataEnd(volume, false);
    if (e instanceof QubesCancelledError) throw e;
    throw new QubesError(`Importing the root volume from ${file} failed: ${(e as Error).message}`);
  }
  await pool.importDataEnd(volume, true);
  return 'root';
}
