// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating, cloning and removing qubes across the store's lock phases, and
 * importing a root image into a new one.
 *
 * Locking (spec §4.3): the record is created under one store update (and
 * sparse images, which are instant, with it); copying image data happens
 * after the lock is released, so a large copy does not hold up every other
 * writer; if the copy fails a second update removes the record again.
 * The power state a clone or removal needs is asked from the hypervisor
 * before the lock is taken; the update only re-checks that the qube is still
 * the same one. Nothing is written when a check fails.
 *
 * Reference: qubes-core-admin: qubes/app.py add_new_vm, api/admin.py
 * _vm_create / vm_remove, qubes/storage/file.py; qubes-core-admin-client:
 * qubesadmin/app.py clone_vm; shared/spec/store-and-core-tools.md §4.3, §10.
 */
import { QubesError, QubesValueError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import { imageDirs, removeDirs, viewVolume } from '../storage/file-images.js';
import { copyImages, createImages, importRootImage, planStorage, rollbackImages, type StoragePlan } from '../storage/qube-images.js';
import { copyRules } from '../firewall/firewall.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { addVmRecord, copyAttributes, syncKernelVid, type PoolChoice } from '../vm/vm-factory.js';
import { propertiesFor, type VmClass } from '../vm/vm-properties.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import type { Qubes } from './app.js';
import type { Store } from './store.js';

/** The qube a `recordQube` callback added, and the disk work it needs. */
interface RecordedQube {
  vm: QubesVM;
  plan: StoragePlan;
}

/** Which record to drop when the copy fails: the uuid tells ours from a same-named qube made since. */
interface CreatedRecord {
  name: string;
  uuid: string;
}

/**
 * The lock phases create and clone share: `recordQube` adds the qube and
 * plans its disk work inside a store update, whose sparse images are made
 * in the same update (and removed if it fails); the copies run after the
 * lock is released (copyOrRollback).
 */
async function createWithImages(
  store: Store,
  recordQube: (app: Qubes) => RecordedQube | Promise<RecordedQube>,
): Promise<{ name: string; warnings: string[] }> {
  const made: string[] = [];
  // Known as soon as it exists: a failed save must still remove the images.
  let planned: StoragePlan | undefined;
  let recorded: { plan: StoragePlan; created: CreatedRecord };
  try {
    recorded = await store.update(async (app) => {
      const { vm, plan } = await recordQube(app);
      planned = plan;
      const created = { name: vm.name, uuid: vm.props.get('uuid') as string };
      createImages(plan, made);
      return { plan, created };
    });
  } catch (e) {
    if (planned) rollbackImages(planned, made);
    throw e;
  }
  const { plan, created } = recorded;
  await copyOrRollback(store, plan, made, created);
  return { name: created.name, warnings: plan.warnings };
}

/** Remove the record created by us (matched by uuid) in a new update. */
async function dropRecord(store: Store, name: string, uuid: string): Promise<void> {
  await store.update((app) => {
    const vm = app.domains.get(name);
    if (vm && vm.props.get('uuid') === uuid) app.domains.delete(vm);
  });
}

/** Copy image data outside the lock; on failure remove the new qube and its images. */
async function copyOrRollback(store: Store, plan: StoragePlan, made: string[], created: CreatedRecord): Promise<void> {
  try {
    copyImages(plan, made);
  } catch (e) {
    rollbackImages(plan, made);
    try {
      await dropRecord(store, created.name, created.uuid);
    } catch (e2) {
      throw new QubesError(`${(e as Error).message}; removing the new qube ${created.name} failed too: ${(e2 as Error).message}`);
    }
    throw new QubesError(`Copying volume data failed, qube ${created.name} removed: ${(e as Error).message}`);
  }
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
  const checked = { name, uuid: vm.props.get('uuid') };
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
}

export interface CreateResult {
  name: string;
  propErrors: { prop: string; message: string }[];
  warnings: string[];
}

/**
 * Create a qube (qvm-create). A StandaloneVM with a template is a copy of
 * that template (properties, features, tags, root data; private starts
 * empty; issue #3793). `check` runs first under the lock (the tool's
 * argument checks that need the store).
 */
export async function createQube(store: Store, req: CreateRequest, check?: (app: Qubes) => void): Promise<CreateResult> {
  const propErrors: CreateResult['propErrors'] = [];
  const { name, warnings } = await createWithImages(store, (app) => {
    check?.(app);
    let vm: QubesVM;
    let plan: StoragePlan;
    if (req.klass === 'StandaloneVM' && req.template !== undefined) {
      const src = app.domains.get(req.template);
      if (!src) throw new QubesVMNotFoundError(req.template);
      vm = addVmRecord(app, {
        klass: 'StandaloneVM',
        name: req.name,
        label: req.label,
        pools: req.pools,
        sizeOf: (vol) => (vol === 'root' ? volumeSize(src, 'root') : undefined),
      });
      copyAttributes(src, vm, false);
      vm.set('label', req.label);
      plan = planStorage(app, vm, { src, volumes: ['root'] });
    } else {
      vm = addVmRecord(app, req);
      plan = planStorage(app, vm);
    }
    for (const [prop, value] of req.props) {
      try {
        vm.set(prop, value);
      } catch (e) {
        propErrors.push({ prop, message: (e as Error).message });
      }
    }
    syncKernelVid(vm);
    return { vm, plan };
  });
  return { name, propErrors, warnings };
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
 * qvm-clone: a new qube with the source's settings and a copy of its
 * persistent volumes. Returns every warning (properties etc. skipped with
 * `ignoreErrors`, storage not handled here) for the caller to print after
 * the operation.
 */
export async function cloneQube(store: Store, req: CloneRequest): Promise<{ warnings: string[] }> {
  const checked = await requireHalted(store, req.source, (src) => {
    if (src.klass === 'AdminVM') throw new QubesValueError(`Cannot clone ${src.name}`);
  });
  const copyWarnings: string[] = [];
  const { name, warnings } = await createWithImages(store, (app) => {
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
        const v = viewVolume(app.pools, s);
        if (!v.rw || v.snapOnStart) return undefined;
        const g = app.get(`default_pool_${volume}`);
        return v.poolName !== g ? v.poolName : undefined;
      },
      sizeOf: (volume) => volumeSize(src, volume),
    });
    copyAttributes(src, vm, true, req.ignoreErrors ? (msg) => copyWarnings.push(msg) : undefined);
    syncKernelVid(vm);
    const persistent = vm.volumeConfig
      .map((c) => viewVolume(app.pools, c))
      .filter((v) => v.saveOnStop && src.volumeConfig.some((c) => volumeAttr(c, 'name') === v.name))
      .map((v) => v.name);
    return { vm, plan: planStorage(app, vm, { src, volumes: persistent }) };
  });
  try {
    await copyRules(store, req.source, name, Date.now());
  } catch (e) {
    if (!(e instanceof QubesError)) throw e;
    if (req.ignoreErrors) copyWarnings.push(`Failed to copy firewall rules: ${e.message}`);
    else {
      await removeQube(store, name);
      throw new QubesError(`Copying the firewall rules failed, qube ${name} removed: ${e.message}`);
    }
  }
  return { warnings: [...copyWarnings, ...warnings] };
}

// ---- root import ---------------------------------------------------------------

/**
 * Replace the root volume's data with `file` (qvm-create -r/-R); grows the
 * volume (and its recorded size) when the file is larger. Like the copies
 * of create and clone, the file work runs outside the lock; only a grown
 * size takes an update.
 */
export async function importRoot(store: Store, vmName: string, file: string, move: boolean): Promise<void> {
  const app = store.read();
  const vm = app.domains.get(vmName);
  if (!vm) throw new QubesVMNotFoundError(vmName);
  const grown = importRootImage(app, vm, file, move);
  if (grown !== undefined) {
    await store.update((a) => {
      const c = a.domains.get(vmName)?.volumeConfig.find((x) => volumeAttr(x, 'name') === 'root');
      if (c) setVolumeAttr(c, 'size', String(grown));
    });
  }
}

// ---- remove --------------------------------------------------------------------

/**
 * Remove one qube from the store (one update), then its image directories
 * and its own directory (`appvms/NAME`: firewall.xml lives there, and must
 * not pass to a later qube of the same name) outside the lock. Returns warnings (disk removal problems are not fatal).
 * dom0, qubes installed by the package manager and qubes in use are refused
 * by the core (Qubes.removeVm).
 * @throws QubesVMInUseError (with the usages), QubesError
 */
export async function removeQube(store: Store, name: string): Promise<string[]> {
  // dom0 never halts: skip the power check and let removeVm refuse it.
  const checked = await requireHalted(store, name, (vm) => vm.klass === 'AdminVM');
  let dirs: string[] = [];
  await store.update((app) => {
    const vm = sameQube(app, name, checked);
    dirs = imageDirs(app.pools, vm.name, vm.volumeConfig);
    const own = qubeDirPath(app.baseDir, vm);
    if (own !== undefined && !dirs.includes(own)) dirs.push(own);
    app.removeVm(vm);
  });
  return removeDirs(dirs);
}
