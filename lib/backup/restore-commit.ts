// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The commit step of a restore (restore.ts), once the whole archive was read
 * and verified: the imports become the volumes, the other volumes are made,
 * firewall rules and notes written, and the records added in one store
 * update (refused when the storage they name changed meanwhile); then the
 * finishers run (dom0's home renamed into place). A failure before the
 * update is undone by the caller's rollback of the transaction.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool, Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import type { DeviceServices } from '../devices/operations.js';
import { QubesError } from '../errors.js';
import { parseFirewallXml } from '../firewall/firewall-xml.js';
import { firewallPath, saveRules } from '../firewall/firewall-file.js';
import { createDir } from '../storage/durable-fs.js';
import type { QubeStorage } from '../storage/qube-storage.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeAttr } from '../vm/volume-config.js';
import { addRestoredRecords } from './restore-records.js';
import type { PlanEntry } from './restore-plan.js';
import type { Txn } from './restore-txn.js';

export interface RestoreCommit {
  store: Store;
  /** The private copy of the store the records were first added to (their volumes). */
  draft: Qubes;
  /** The planned qubes (not dom0). */
  qubes: PlanEntry[];
  devices: DeviceServices;
  /** The pool whose driver names a pool's volumes (storage/pools.ts volumeNaming). */
  naming: (record: Pool) => Pool;
  /** Restore name → its record in `draft`. */
  records: Map<string, QubesVM>;
  storages: Map<string, QubeStorage>;
  /** Restore name → volume name → size, of the volumes whose data was imported. */
  restoredSizes: Map<string, Map<string, number>>;
  /** Restore name → kind → data of its small files (firewall, notes, menu). */
  smalls: Map<string, Map<string, Buffer>>;
  txn: Txn;
  warn: (m: string) => void;
}

/** A qube's volumes as `name=pool:vid,...`: what its record names. */
const volumesOf = (vm: QubesVM): string => vm.volumeConfig.map((c) => `${volumeAttr(c, 'name')}=${volumeAttr(c, 'pool')}:${volumeAttr(c, 'vid')}`).join(',');

/** Commit a verified restore (see the module comment); returns the names of the qubes made. */
export async function commitRestore({ store, draft, qubes, devices, naming, records, storages, restoredSizes, smalls, txn, warn }: RestoreCommit): Promise<string[]> {
  const made: string[] = [];
  for (const [name, qs] of storages) {
    const sizes = restoredSizes.get(name) ?? new Map<string, number>();
    for (const volName of sizes.keys()) {
      const qv = qs.require(volName);
      txn.pending.delete(`${name}/${volName}`);
      txn.committed.push(() => qv.pool.remove(qv.volume));
      await qv.pool.importDataEnd(qv.volume, true);
    }
    txn.committed.push(async () => void (await qs.removeData()));
    await qs.create([...sizes.keys()]);
    const vm = records.get(name) as QubesVM;
    const dir = qubeDirPath(draft.baseDir, vm);
    if (dir) {
      createDir(dir);
      txn.committed.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    const small = smalls.get(name);
    const fw = small?.get('firewall');
    if (fw) {
      try {
        saveRules(firewallPath(draft.baseDir, vm), parseFirewallXml(fw.toString('utf8')), Date.now());
      } catch (e) {
        warn(`Firewall rules of ${name} not restored: ${(e as Error).message}`);
      }
    }
    const notes = small?.get('notes');
    if (notes && dir) fs.writeFileSync(path.join(dir, 'notes.txt'), notes, { mode: 0o644 });
    made.push(name);
  }
  const menus = new Map([...smalls].map(([n, m]) => [n, m.get('menu')?.toString('utf8')]));
  const vids = new Map([...records].map(([n, vm]) => [n, volumesOf(vm)]));
  await store.update((app) => {
    const added = addRestoredRecords(app, qubes, devices, naming, () => {}, restoredSizes);
    for (const [n, vm] of added) {
      if (volumesOf(vm) !== vids.get(n)) throw new QubesError(`The storage of ${n} changed while restoring (pools or defaults were changed); nothing restored`);
      const menu = menus.get(n);
      if (menu) vm.features.set('menu-items', menu.split('\n').map((l) => l.trim()).filter(Boolean).join(' '));
    }
  });
  txn.committed.length = 0;
  for (const f of txn.finishers) await f();
  return made;
}
