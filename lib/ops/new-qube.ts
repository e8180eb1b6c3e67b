// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A new qube (create, clone) across the store's lock phases, with the data
 * of its volumes made outside the lock; the removal (remove-qube.ts) follows
 * the same rule.
 *
 * A store never lists a qube whose volumes were not all made. A create or
 * clone (1) plans the new record in memory, holds its name and records the
 * volumes it is about to make (lib/storage/unfinished-qubes.ts), (2) makes
 * the volumes and fills them (clone copy, root image) without the store
 * lock, so a large copy does not hold up other writers, (3) adds the record
 * in one store update, made again from the current store and checked to
 * name the same volumes. Any failure or cancel (SIGINT, SIGTERM) removes
 * what was made; a kill -9 leaves the record of the unfinished work, which
 * the next create, clone or remove acts on first. A removal records the
 * qube's volumes in the same way before the store update that drops it,
 * so a killed removal is finished by the next command.
 *
 * The power state a clone or removal needs is asked from the hypervisor
 * before the lock is taken; the update only re-checks that the qube is still
 * the same one. Nothing is written when a check fails.
 *
 * Reference: qubes-core-admin: qubes/app.py add_new_vm, api/admin.py
 * _vm_create / vm_remove, qubes/storage/__init__.py; qubes-core-admin-client:
 * qubesadmin/app.py clone_vm; shared/spec/store-and-core-tools.md §4.3, §10.
 */
import { QubesCancelledError, QubesError, QubesVMNotFoundError } from '../errors.js';
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { throwIfCancelled } from '../storage/cancel.js';
import { createDir } from '../storage/durable-fs.js';
import type { StorageContext } from '../storage/pool.js';
import { PoolSet, type QubeStorage } from '../storage/qube-storage.js';
import { QubeClaim, recoverUnfinished, unfinishedRecord } from '../storage/unfinished-qubes.js';
import { applyStandaloneDefault } from '../vm/boot-modes.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import { workContext } from './work-context.js';

/** What a `recordQube` callback added: the qube, and which volumes to fill from another qube. */
export interface RecordedQube {
  vm: QubesVM;
  copyFrom?: { src: string; volumes: string[] };
}

/**
 * Adds the new qube's record to `app` (not saved). Called once to plan and
 * once more under the lock to publish; `name` is then the planned one (a
 * disposable's `disp<ID>`).
 */
export type RecordQube = (app: Qubes, name?: string) => RecordedQube | Promise<RecordedQube>;

interface MakeOptions {
  signal?: AbortSignal;
  /** More data work once the volumes exist (the root image of qvm-create -r); returns the volumes it filled. */
  fill?: (storage: QubeStorage, ctx: StorageContext) => Promise<string[]>;
  /** Under the lock, just before the new qube is saved (a clone's firewall rules). */
  beforeSave?: (app: Qubes, vm: QubesVM) => void;
}

/** Volume names, pools, ids and sources: what the data was made for. */
const storageOf = (vm: QubesVM): string =>
  vm.volumeConfig.map((c) => `${volumeAttr(c, 'name')}=${volumeAttr(c, 'pool')}:${volumeAttr(c, 'vid')}<${volumeAttr(c, 'source') ?? ''}`).join(',');

/** recordQube, and the boot mode a qube takes from the root it gets (a standalone copy of a template). */
async function recorded(recordQube: RecordQube, app: Qubes, name?: string): Promise<RecordedQube> {
  const r = await recordQube(app, name);
  if (r.copyFrom?.volumes.includes('root')) applyStandaloneDefault(r.vm);
  return r;
}

/**
 * Plan, make the data, publish (see the module comment). Returns the name
 * and what was done about earlier commands' unfinished work.
 */
export async function createWithStorage(store: Store, base: StorageContext, recordQube: RecordQube, opts: MakeOptions = {}): Promise<{ name: string; notes: string[] }> {
  const ctx = workContext(base, opts.signal);
  const notes = await recoverUnfinished(store, ctx);
  const plan = store.read();
  const { vm, copyFrom } = await recorded(recordQube, plan);
  const planned = { uuid: vm.uuid, dispid: vm.props.get('dispid'), storage: storageOf(vm) };
  const claim = await QubeClaim.take(store, vm.name, ctx);
  notes.push(...claim.notes);
  try {
    await claim.write(unfinishedRecord('create', vm));
    const pools = new PoolSet(plan, ctx);
    const storage = await pools.qube(vm);
    const dir = qubeDirPath(plan.baseDir, vm);
    if (dir) createDir(dir);
    await storage.create(copyFrom?.volumes ?? []);
    throwIfCancelled(opts.signal);
    if (copyFrom) {
      const src = plan.domains.get(copyFrom.src);
      if (!src) throw new QubesVMNotFoundError(copyFrom.src);
      await storage.cloneFrom(await pools.qube(src), copyFrom.volumes);
    }
    throwIfCancelled(opts.signal);
    const filled = [...(copyFrom?.volumes ?? []), ...((await opts.fill?.(storage, ctx)) ?? [])];
    // a copy or an image gives the volume its own size
    const sizes = new Map<string, number>();
    for (const name of filled) {
      const qv = storage.require(name);
      sizes.set(name, await qv.pool.size(qv.volume));
    }
    await store.update(async (app) => {
      throwIfCancelled(opts.signal);
      const again = (await recorded(recordQube, app, vm.name)).vm;
      if (storageOf(again) !== planned.storage)
        throw new QubesError(`The storage of ${vm.name} changed while its volumes were being made (pools or defaults were changed)`);
      again.props.set('uuid', planned.uuid as string);
      const dispidTaken = app.domains.all().some((o) => o !== again && o.klass === 'DispVM' && o.props.get('dispid') === planned.dispid);
      if (planned.dispid !== undefined && !dispidTaken) again.props.set('dispid', planned.dispid);
      for (const c of again.volumeConfig) {
        const size = sizes.get(volumeAttr(c, 'name') ?? '');
        if (size !== undefined) setVolumeAttr(c, 'size', String(size));
      }
      opts.beforeSave?.(app, again);
    });
  } catch (e) {
    // the qube is not in the store: what was made goes (problems removing volumes that were
    // never made are the failure's echo; the failure is what to tell)
    try {
      await claim.settle(workContext(base));
    } catch {
      // the record stays: the next command applies the rule; the failure is still what to tell
    }
    if (e instanceof QubesCancelledError || opts.signal?.aborted)
      throw new QubesCancelledError(`Creating ${vm.name} cancelled; nothing was kept`, opts.signal?.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
    throw new QubesError(`Creating the volumes of ${vm.name} failed, qube removed: ${(e as Error).message}`);
  }
  // saved: the rule keeps its volumes and drops the record
  await claim.settle(ctx);
  return { name: vm.name, notes };
}

/** The size recorded for one of a qube's volumes, when it has one. */
export function volumeSize(vm: QubesVM, volume: string): number | undefined {
  const v = vm.volumeConfig.find((c) => volumeAttr(c, 'name') === volume);
  const n = Number(v ? volumeAttr(v, 'size') : undefined);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
