// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating, cloning and removing qubes across the store's lock phases, with
 * the data of their volumes made or removed outside the lock.
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
import fs from 'node:fs';
import { LibvirtNoDomainError, QubesCancelledError, QubesError, QubesValueError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import { throwIfCancelled } from '../storage/cancel.js';
import { importFile } from '../storage/copy-data.js';
import { createDir } from '../storage/durable-fs.js';
import { openImportSource } from '../storage/import-source.js';
import type { StorageContext } from '../storage/pool.js';
import { volumeNaming } from '../storage/pools.js';
import { PoolSet, type QubeStorage } from '../storage/qube-storage.js';
import { QubeClaim, recoverUnfinished, unfinishedNames, unfinishedRecord } from '../storage/unfinished-qubes.js';
import { settingsFromConfig } from '../storage/volume.js';
import { copyRules } from '../firewall/firewall.js';
import { applyStandaloneDefault } from '../vm/boot-modes.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { addVmRecord, copyAttributes, syncKernelVid, type PoolChoice } from '../vm/vm-factory.js';
import { propertiesFor, runsHere, type VmClass } from '../vm/vm-properties.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import type { Qubes } from './app.js';
import { copyNotesIn } from './qube-notes.js';
import type { Store } from './store.js';
import type { Vmm } from '../vmm/vmm.js';

/** What a `recordQube` callback added: the qube, and which volumes to fill from another qube. */
interface RecordedQube {
  vm: QubesVM;
  copyFrom?: { src: string; volumes: string[] };
}

/**
 * Adds the new qube's record to `app` (not saved). Called once to plan and
 * once more under the lock to publish; `name` is then the planned one (a
 * disposable's `disp<ID>`).
 */
type RecordQube = (app: Qubes, name?: string) => RecordedQube | Promise<RecordedQube>;

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

/** The context of one command's storage work (its session's, cancelled by `signal`). */
const workContext = (base: StorageContext, signal?: AbortSignal): StorageContext => ({ ...base, signal });

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
async function createWithStorage(store: Store, base: StorageContext, recordQube: RecordQube, opts: MakeOptions = {}): Promise<{ name: string; notes: string[] }> {
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

function volumeSize(vm: QubesVM, volume: string): number | undefined {
  const v = vm.volumeConfig.find((c) => volumeAttr(c, 'name') === volume);
  const n = Number(v ? volumeAttr(v, 'size') : undefined);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The qube checked before the lock, identified by its uuid. */
interface CheckedQube {
  name: string;
  uuid: string | undefined;
  klass: string;
}

/**
 * The power-state check, done before taking the store lock (spec §4.3: no
 * hypervisor work under the lock): read the store without locking, refresh
 * the qube's runtime state and require it to be halted. `precheck` runs
 * first; it may throw, or return true to skip the power check.
 * @throws QubesVMNotFoundError, QubesVMNotHaltedError, VmmError
 */
async function requireHalted(store: Store, name: string, precheck?: (vm: QubesVM) => boolean | void): Promise<CheckedQube> {
  const app = store.read();
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  const checked = { name, uuid: vm.props.get('uuid'), klass: vm.klass };
  if (precheck?.(vm) === true) return checked;
  await app.vmm.refresh([vm]);
  if (app.vmm.info(vm).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${vm.name}'`);
  return checked;
}

/**
 * Under the lock: the qube checked by requireHalted, still the same one
 * (a qube removed and re-created under its name since has not been checked).
 */
function sameQube(app: Qubes, name: string, checked: CheckedQube): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  if (vm.props.get('uuid') !== checked.uuid) throw new QubesError(`Qube ${name} was replaced by another one meanwhile; try again`);
  return vm;
}

// ---- create ------------------------------------------------------------------

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
      syncKernelVid(vm);
      return { vm, copyFrom };
    },
    { signal, fill: rootFile === undefined ? undefined : async (storage, ctx) => [await importRoot(storage, rootFile, ctx)] },
  );
  if (rootFile !== undefined && req.moveRoot) fs.rmSync(rootFile, { force: true });
  return { name, propErrors, warnings: notes };
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
    await importFile(file, target, size, ctx.runner, ctx.signal);
  } catch (e) {
    await pool.importDataEnd(volume, false);
    if (e instanceof QubesCancelledError) throw e;
    throw new QubesError(`Importing the root volume from ${file} failed: ${(e as Error).message}`);
  }
  await pool.importDataEnd(volume, true);
  return 'root';
}

// ---- clone -------------------------------------------------------------------

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

// ---- remove --------------------------------------------------------------------

/**
 * Remove one qube: its volumes are recorded as about to go, the store
 * update drops it, then its volumes and its own directory (`appvms/NAME`:
 * firewall.xml lives there, and must not pass to a later qube of the same
 * name) go outside the lock. Killed at any point, the next command
 * finishes the removal (or finds the qube whole). Returns warnings (disk
 * removal problems are not fatal). dom0, qubes installed by the package
 * manager and qubes in use are refused by the core (Qubes.removeVm).
 * @throws QubesVMInUseError (with the usages), QubesError
 */
export async function removeQube(store: Store, name: string, storage: StorageContext): Promise<string[]> {
  // dom0 never halts: skip the power check and let removeVm refuse it; a remote qube has no power state here.
  const checked = await requireHalted(store, name, (vm) => !runsHere(vm.klass));
  const ctx = workContext(storage);
  const problems = await recoverUnfinished(store, ctx);
  const claim = await QubeClaim.take(store, name, ctx);
  problems.push(...claim.notes);
  let refused: unknown;
  try {
    await store.update(async (app) => {
      const vm = sameQube(app, name, checked);
      if (vm.klass !== 'AdminVM') await claim.write(unfinishedRecord('remove', vm));
      app.removeVm(vm);
    });
  } catch (e) {
    refused = e;
  }
  // dropped from the store: its volumes and directory go; still there (refused): nothing is touched
  problems.push(...(await claim.settle(ctx)));
  if (refused) throw refused;
  if (checked.uuid && !store.vmm.offline && runsHere(checked.klass)) {
    try {
      await undefineDomain(store.vmm, checked.uuid);
    } catch (e) {
      problems.push(`cannot remove the libvirt domain of ${name}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/**
 * `qvm-remove NAME` for a name the store does not have but an unfinished
 * create or remove recorded: what that killed command left is removed.
 * Returns what was done, or undefined when NAME has no such record.
 * @throws QubesError while a live command works on NAME
 */
export async function removeUnfinished(store: Store, name: string, storage: StorageContext): Promise<string[] | undefined> {
  if (!unfinishedNames(store).includes(name)) return undefined;
  const claim = await QubeClaim.take(store, name, storage);
  await claim.settle(storage);
  return claim.notes;
}

/** Forget the qube's libvirt domain (defined at its last start), as the reference does on removal. */
async function undefineDomain(vmm: Vmm, uuid: string): Promise<void> {
  const conn = vmm.libvirt();
  try {
    await conn.undefine(await conn.lookupByUuid(uuid));
  } catch (e) {
    if (!(e instanceof LibvirtNoDomainError)) throw e;
  }
}
