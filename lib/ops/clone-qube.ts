// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-clone: the source checked halted before the lock, the new qube's
 * volumes copied outside it (lib/ops/new-qube.ts), its notes and firewall
 * rules saved with the record.
 */
import { copyNotesIn } from '../app/qube-notes.js';
import type { Store } from '../app/store.js';
import { QubesError, QubesValueError } from '../errors.js';
import { copyRules } from '../firewall/firewall.js';
import type { StorageContext } from '../storage/pool.js';
import { volumeNaming } from '../storage/pools.js';
import { settingsFromConfig } from '../storage/volume.js';
import { addVmRecord, copyAttributes, syncKernelVid, type PoolChoice } from '../app/vm-factory.js';
import { propertiesFor, type VmClass } from '../vm/vm-properties.js';
import { volumeAttr } from '../vm/volume-config.js';
import { requireHalted, sameQube } from './halted-qube.js';
import { createWithStorage, volumeSize } from './new-qube.js';

export interface CloneRequest {
  source: string;
  name: string;
  klass?: VmClass;
  pools: PoolChoice;
  ignoreErrors: boolean;
}

/**
 * qvm-clone: a new qube with the source's settings, a copy of its
 * persistent volumes, its notes and its firewall rules (saved with the
 * record). Returns the warnings (properties, notes and rules skipped with
 * `ignoreErrors`, earlier unfinished work cleaned up) for the caller to
 * print.
 */
export async function cloneQube(store: Store, storage: StorageContext, req: CloneRequest, signal?: AbortSignal): Promise<{ warnings: string[] }> {
  const checked = await requireHalted(store, req.source, (src) => {
    if (src.klass === 'AdminVM') throw new QubesValueError(`Cannot clone ${src.name}`);
  });
  let copyWarnings: string[] = [];
  const { notes } = await createWithStorage(
    store,
    storage,
    (app) => {
      copyWarnings = [];
      const src = sameQube(app, req.source, checked);
      const klass = req.klass ?? src.klass;
      const srcTemplate = src.has('template') ? src.get('template') : undefined;
      const label = src.get('label');
      const vm = addVmRecord(app, {
        klass,
        name: req.name,
        label: typeof label === 'string' ? label : 'red',
        template: propertiesFor(klass).has('template') && typeof srcTemplate === 'string' ? srcTemplate : undefined,
        pools: req.pools,
        poolFallback: (volume) => {
          if (req.pools.all !== undefined) return undefined;
          const s = src.volumeConfig.find((c) => volumeAttr(c, 'name') === volume);
          if (!s) return undefined;
          const v = settingsFromConfig(s);
          if (!v.rw || v.snapOnStart) return undefined;
          const g = app.get(`default_pool_${volume}`);
          return v.pool !== g ? v.pool : undefined;
        },
        sizeOf: (volume) => volumeSize(src, volume),
        namingPool: volumeNaming(storage),
      });
      copyAttributes(src, vm, true, req.ignoreErrors ? (msg) => copyWarnings.push(msg) : undefined);
      syncKernelVid(vm);
      const persistent = vm.volumeConfig
        .map((c) => settingsFromConfig(c))
        .filter((v) => v.saveOnStop && !v.snapOnStart && src.volumeConfig.some((c) => volumeAttr(c, 'name') === v.name))
        .map((v) => v.name);
      return { vm, copyFrom: { src: src.name, volumes: persistent } };
    },
    {
      signal,
      beforeSave: (app, vm) => {
        const src = sameQube(app, req.source, checked);
        const copies: [string, () => void][] = [
          ['notes', () => copyNotesIn(app, src, vm)],
          ['firewall rules', () => copyRules(app, src, vm, Date.now())],
        ];
        for (const [what, copy] of copies) {
          try {
            copy();
          } catch (e) {
            if (!(e instanceof QubesError) || !req.ignoreErrors) throw new QubesError(`Copying the ${what} failed: ${(e as Error).message}`);
            copyWarnings.push(`Failed to copy ${what}: ${e.message}`);
          }
        }
      },
    },
  );
  return { warnings: [...notes, ...copyWarnings] };
}
