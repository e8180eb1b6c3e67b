// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Making and unmaking qubes: a new qube record (qid, uuid, label, template,
 * volume-config with the chosen pools, automatic tags and features), a
 * clone of an existing qube, and removal; plus their disk images in file
 * pools.
 *
 * Locking (spec §4.3): the record is created under one store update (and
 * sparse images, which are instant, with it); copying image data happens
 * after the lock is released; if the copy fails a second update removes
 * the record again. Nothing is written when a check fails.
 *
 * Reference: qubes-core-admin: qubes/app.py add_new_vm, api/admin.py
 * _vm_create / vm_remove, qubes/storage/file.py; qubes-core-admin-client:
 * qubesadmin/app.py clone_vm; shared/spec/store-and-core-tools.md §10.
 */
import { randomInt, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { Pool, Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { MAX_DISPID } from '../config.js';
import { QubesError, QubesValueError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import {
  copyImage,
  createSparseImage,
  imageDirs,
  imagePath,
  importImage,
  isFilePool,
  removeDirs,
  viewVolume,
} from '../storage/file-images.js';
import { validateVmName } from './names.js';
import type { QubesVM } from './qubes-vm.js';
import { CREATABLE_CLASSES, syncGuiTags, type VmClass } from './vm-properties.js';
import { DEFAULT_VOLUMES, defaultVolumeConfig, setVolumeAttr, volumeAttr, type PoolInfo } from './volume-config.js';

export const VOLUME_NAMES: readonly string[] = ['root', 'private', 'volatile', 'kernel'];

/** Properties `qvm-clone` never copies (spec §10.3). */
const CLONE_SKIP_PROPS = new Set(['name', 'qid', 'template', 'label', 'uuid', 'installed_by_rpm', 'dispid']);

export const isCreatableClass = (s: string): s is VmClass => (CREATABLE_CLASSES as readonly string[]).includes(s);

/** Pool choices from the command line: `-P POOL` and `-p VOLUME=POOL`. */
export interface PoolChoice {
  /** `-P`: every writable, non-snapshot volume. */
  all?: string;
  /** `-p VOLUME=POOL`. */
  perVolume: Map<string, string>;
}

/**
 * `-p VOLUME=POOL` arguments → map. Returns an error text for a malformed
 * one (callers turn it into a usage error).
 */
export function parseVolumePools(args: string[] | undefined): Map<string, string> | string {
  const m = new Map<string, string>();
  for (const a of args ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0 || eq === a.length - 1) return 'Pool argument must be of form: -p volume_name=pool_name';
    const vol = a.slice(0, eq);
    if (!VOLUME_NAMES.includes(vol)) return `unknown volume '${vol}' in -p (expected one of: ${VOLUME_NAMES.join(', ')})`;
    m.set(vol, a.slice(eq + 1));
  }
  return m;
}

function poolInfo(pool: Pool): PoolInfo {
  return {
    name: pool.name,
    driver: pool.driver,
    revisionsToKeep: pool.attr('revisions_to_keep'),
    volumeGroup: pool.attr('volume_group'),
  };
}

function needPool(app: Qubes, name: string): Pool {
  const p = app.pools.get(name);
  if (!p) throw new QubesValueError(`No such storage pool: ${name}`);
  return p;
}

/**
 * The pool-choosing function `defaultVolumeConfig` wants: snapshot volumes
 * stay with their origin; otherwise `-p VOL`, then `-P` (writable volumes
 * only), then `fallback(volume)`, then global `default_pool_<volume>`.
 */
function poolChooser(app: Qubes, klass: VmClass, choice: PoolChoice, fallback?: (volume: string) => string | undefined) {
  const defaults = DEFAULT_VOLUMES[klass] ?? [];
  return (volume: string, originPool: string | undefined): PoolInfo => {
    const d = defaults.find((x) => x.name === volume);
    const explicit = choice.perVolume.get(volume);
    if (originPool !== undefined) {
      if (explicit !== undefined && explicit !== originPool)
        throw new QubesValueError(
          `Volume ${volume} of the new ${klass} is a snapshot of its template's volume and must stay in pool ${originPool}`,
        );
      return poolInfo(needPool(app, originPool));
    }
    let name = explicit;
    if (name === undefined && choice.all !== undefined && d?.rw && !d.snapOnStart) name = choice.all;
    if (name === undefined) name = fallback?.(volume);
    if (name === undefined) {
      const g = app.get(`default_pool_${volume}`);
      if (typeof g !== 'string' || g === '')
        throw new QubesValueError(`No default storage pool for volume ${volume}; choose one with -P or -p ${volume}=POOL`);
      name = g;
    }
    return poolInfo(needPool(app, name));
  };
}

/** Random unused dispid (0..9999); the default name disp<ID> must be free too when no name was given. */
function allocateDispid(app: Qubes, needName: boolean): number {
  const used = new Set<number>();
  for (const vm of app.domains.all()) {
    if (vm.klass === 'DispVM' && vm.props.has('dispid')) used.add(Number(vm.props.get('dispid')));
  }
  for (let i = 0; i < 100; i++) {
    const id = randomInt(0, MAX_DISPID);
    if (!used.has(id) && !(needName && app.domains.get(`disp${id}`))) return id;
  }
  throw new QubesError('Cannot find unused dispid!');
}

/** The kernel volume's vid follows the qube's kernel ('None' for none). */
export function syncKernelVid(vm: QubesVM): void {
  const k = vm.get('kernel');
  for (const v of vm.volumeConfig) {
    if (volumeAttr(v, 'name') === 'kernel') setVolumeAttr(v, 'vid', typeof k === 'string' && k !== '' ? k : 'None');
  }
}

function sortTags(vm: QubesVM): void {
  const tags = vm.tags.sorted();
  vm.tags.set.clear();
  for (const t of tags) vm.tags.set.add(t);
}

export interface RecordRequest {
  klass: VmClass;
  /** Optional for DispVM (then `disp<dispid>`). */
  name?: string;
  label: string;
  /** Name of the template; absent ⇒ global default (default_dispvm for DispVM). */
  template?: string;
  pools: PoolChoice;
  /** Pool for a volume when no option chose one (clone: keep the source's). */
  poolFallback?: (volume: string) => string | undefined;
  /** Size of a volume when not the class default (clone: the source's). */
  sizeOf?: (volume: string) => number | undefined;
}

/**
 * A new qube in `app` (not saved): name checks, qid, uuid, label, template,
 * dispid, volume-config, tag created-by-dom0, gui/audio tags, check-updates.
 * @throws QubesError (QubesValueError, QubesVMNotFoundError, property errors)
 */
export function addVmRecord(app: Qubes, req: RecordRequest): QubesVM {
  if (!isCreatableClass(req.klass)) throw new QubesValueError(`no such domain class: '${req.klass}'`);
  const vm = app.newVm(req.klass);
  let name = req.name;
  if (req.klass === 'DispVM') {
    const dispid = allocateDispid(app, name === undefined);
    name ??= `disp${dispid}`;
    vm.props.set('dispid', String(dispid));
  }
  if (name === undefined) throw new QubesValueError('VMNAME is mandatory');
  validateVmName(name);
  if (app.domains.get(name)) throw new QubesValueError(`Qube already exists: ${name}`);
  vm.set('name', name);
  vm.set('qid', String(app.allocateQid()));
  vm.set('uuid', randomUUID());
  vm.set('label', req.label);

  let template: QubesVM | undefined;
  if (vm.has('template')) {
    let tname = req.template;
    if (tname === undefined) {
      const d = app.get(req.klass === 'DispVM' ? 'default_dispvm' : 'default_template');
      if (typeof d !== 'string' || d === '') throw new QubesValueError('Template for the qube not specified, nor default template set.');
      tname = d;
    }
    template = app.domains.get(tname);
    if (!template) throw new QubesVMNotFoundError(tname);
    vm.set('template', tname);
  } else if (req.template !== undefined) {
    throw new QubesValueError(`A ${req.klass} is not based on a template (--template given)`);
  }

  vm.volumeConfig = defaultVolumeConfig({
    klass: req.klass,
    vmName: name,
    poolFor: poolChooser(app, req.klass, req.pools, req.poolFallback),
    templateVolumes: template?.volumeConfig,
    kernel: '',
  });
  for (const v of vm.volumeConfig) {
    const size = req.sizeOf?.(volumeAttr(v, 'name') ?? '');
    if (size && volumeAttr(v, 'snap_on_start') !== 'True') setVolumeAttr(v, 'size', String(size));
  }
  // A disposable starts as a copy of its template's settings (reference dispvm.py __init__).
  if (req.klass === 'DispVM' && template) copyAttributes(template, vm, false);
  syncKernelVid(vm);
  vm.tags.add('created-by-dom0');
  syncGuiTags(vm);
  sortTags(vm);
  if (app.get('check_updates_vm') === false) vm.features.set('check-updates', false);
  app.domains.add(vm);
  return vm;
}

// ---- images ---------------------------------------------------------------

/** Disk work for a new qube: sparse images made under the lock, copies made after it. */
export interface StoragePlan {
  create: { file: string; size: number }[];
  copy: { volume: string; src: string; dst: string; size: number }[];
  /** Image directories that did not exist before (removed on rollback). */
  newDirs: string[];
  warnings: string[];
}

const STORAGE_LATER = 'comes with the storage subsystem; only the volume configuration was recorded';

/**
 * What to do on disk for `vm`'s persistent volumes. Volumes named in
 * `copyFrom` get the data of the same-named volume of the source qube
 * (a snapshot volume's data is its origin's image).
 */
export function planStorage(app: Qubes, vm: QubesVM, copyFrom?: { src: QubesVM; volumes: string[] }): StoragePlan {
  const plan: StoragePlan = { create: [], copy: [], newDirs: [], warnings: [] };
  for (const cfg of vm.volumeConfig) {
    const v = viewVolume(app.pools, cfg);
    if (!v.saveOnStop) continue;
    if (!isFilePool(v.pool)) {
      plan.warnings.push(`volume ${v.name} of ${vm.name}: image creation for pool ${v.poolName} (driver ${driverOf(v)}) ${STORAGE_LATER}`);
      continue;
    }
    const dst = imagePath(v.pool, v.vid);
    const srcCfg = copyFrom?.volumes.includes(v.name)
      ? copyFrom.src.volumeConfig.find((c) => volumeAttr(c, 'name') === v.name)
      : undefined;
    if (!srcCfg) {
      plan.create.push({ file: dst, size: v.size });
      continue;
    }
    const s = viewVolume(app.pools, srcCfg);
    if (!isFilePool(s.pool))
      throw new QubesError(`Copying volume ${v.name} from pool ${s.poolName} (driver ${driverOf(s)}) ${STORAGE_LATER.split(';')[0]}`);
    const srcVid = s.snapOnStart && s.source ? s.source : s.vid;
    const src = imagePath(s.pool, srcVid);
    if (!fs.existsSync(src)) throw new QubesError(`Image of volume ${v.name} of ${copyFrom?.src.name} not found: ${src}`);
    plan.copy.push({ volume: v.name, src, dst, size: v.size });
  }
  for (const d of imageDirs(app.pools, vm.name, vm.volumeConfig)) if (!fs.existsSync(d)) plan.newDirs.push(d);
  return plan;
}

const driverOf = (v: { pool: Pool | undefined }): string => v.pool?.driver ?? 'unknown';

function rollbackImages(plan: StoragePlan, made: string[]): void {
  for (const f of made) fs.rmSync(f, { force: true });
  removeDirs(plan.newDirs);
}

/** Make the sparse images; on failure remove what was made and rethrow. */
function createImages(plan: StoragePlan, made: string[]): void {
  try {
    for (const c of plan.create) {
      createSparseImage(c.file, c.size);
      made.push(c.file);
    }
  } catch (e) {
    rollbackImages(plan, made);
    made.length = 0;
    throw e;
  }
}

/** Remove the record created by us (matched by uuid) in a new update. */
async function dropRecord(store: Store, name: string, uuid: string): Promise<void> {
  await store.update((app) => {
    const vm = app.domains.get(name);
    if (vm && vm.props.get('uuid') === uuid) app.domains.delete(vm);
  });
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
  const made: string[] = [];
  let plan: StoragePlan | undefined;
  let created: { name: string; uuid: string } | undefined;
  const propErrors: CreateResult['propErrors'] = [];
  try {
    await store.update((app) => {
      check?.(app);
      let vm: QubesVM;
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
      created = { name: vm.name, uuid: vm.props.get('uuid') as string };
      createImages(plan, made);
    });
  } catch (e) {
    if (plan) rollbackImages(plan, made);
    throw e;
  }
  const p = plan as StoragePlan;
  const c = created as unknown as { name: string; uuid: string };
  await copyOrRollback(store, p, made, c);
  return { name: c.name, propErrors, warnings: p.warnings };
}

function volumeSize(vm: QubesVM, volume: string): number | undefined {
  const v = vm.volumeConfig.find((c) => volumeAttr(c, 'name') === volume);
  const n = Number(v ? volumeAttr(v, 'size') : undefined);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Copy image data outside the lock; on failure remove the new qube and its images. */
async function copyOrRollback(store: Store, plan: StoragePlan, made: string[], created: { name: string; uuid: string }): Promise<void> {
  try {
    for (const c of plan.copy) {
      copyImage(c.src, c.dst, c.size);
      made.push(c.dst);
    }
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

/**
 * Copy what a clone inherits: non-default properties (except identity,
 * template, label, installed_by_rpm, dispid; ones the new class lacks are
 * skipped), tags except created-by-*, features except preload-dispvm*
 * (preload-dispvm-max is kept), device assignments. Errors are thrown
 * unless `onError` takes them.
 */
export function copyAttributes(src: QubesVM, dst: QubesVM, withDevices: boolean, onError?: (msg: string) => void): void {
  const fail = (msg: string) => {
    if (onError) onError(msg);
    else throw new QubesError(msg);
  };
  for (const [name, raw] of src.props) {
    if (CLONE_SKIP_PROPS.has(name) || !dst.has(name)) continue;
    const def = dst.defs.get(name);
    if (def?.stateless || def?.forbidden) continue;
    try {
      dst.set(name, raw);
    } catch (e) {
      fail(`Failed to copy property ${name}: ${(e as Error).message}`);
    }
  }
  for (const t of src.tags.sorted()) if (!t.startsWith('created-by-')) dst.tags.add(t);
  for (const [k, v] of src.features.entries()) {
    if (k.startsWith('preload-dispvm') && k !== 'preload-dispvm-max') continue;
    dst.features.map.set(k, v);
  }
  if (withDevices) dst.devices = structuredClone(src.devices);
  syncGuiTags(dst);
  sortTags(dst);
}

// ---- clone -------------------------------------------------------------------

export interface CloneRequest {
  source: string;
  name: string;
  klass?: VmClass;
  pools: PoolChoice;
  ignoreErrors: boolean;
}

/** qvm-clone: a new qube with the source's settings and a copy of its persistent volumes. */
export async function cloneQube(store: Store, req: CloneRequest, warn: (msg: string) => void): Promise<{ warnings: string[] }> {
  const made: string[] = [];
  let plan: StoragePlan | undefined;
  let created: { name: string; uuid: string } | undefined;
  try {
    await store.update(async (app) => {
      const src = app.domains.get(req.source);
      if (!src) throw new QubesVMNotFoundError(req.source);
      if (src.klass === 'AdminVM') throw new QubesValueError(`Cannot clone ${src.name}`);
      await app.vmm.refresh([src]);
      if (app.vmm.info(src).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${src.name}'`);
      const klass = req.klass ?? src.klass;
      const probe = app.newVm(klass);
      const srcTemplate = src.has('template') ? src.get('template') : undefined;
      const label = src.get('label');
      const vm = addVmRecord(app, {
        klass,
        name: req.name,
        label: typeof label === 'string' ? label : 'red',
        template: probe.has('template') && typeof srcTemplate === 'string' ? srcTemplate : undefined,
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
      copyAttributes(src, vm, true, req.ignoreErrors ? warn : undefined);
      syncKernelVid(vm);
      const persistent = vm.volumeConfig
        .map((c) => viewVolume(app.pools, c))
        .filter((v) => v.saveOnStop && src.volumeConfig.some((c) => volumeAttr(c, 'name') === v.name))
        .map((v) => v.name);
      plan = planStorage(app, vm, { src, volumes: persistent });
      created = { name: vm.name, uuid: vm.props.get('uuid') as string };
      createImages(plan, made);
    });
  } catch (e) {
    if (plan) rollbackImages(plan, made);
    throw e;
  }
  const p = plan as StoragePlan;
  await copyOrRollback(store, p, made, created as unknown as { name: string; uuid: string });
  return { warnings: p.warnings };
}

// ---- root import ---------------------------------------------------------------

/**
 * Replace the root volume's data with `file` (qvm-create -r/-R); grows the
 * volume (and its recorded size) when the file is larger.
 */
export async function importRoot(store: Store, vmName: string, file: string, move: boolean): Promise<void> {
  const app = store.read();
  const vm = app.domains.get(vmName);
  if (!vm) throw new QubesVMNotFoundError(vmName);
  const cfg = vm.volumeConfig.find((c) => volumeAttr(c, 'name') === 'root');
  if (!cfg) throw new QubesError(`${vmName} has no root volume`);
  const v = viewVolume(app.pools, cfg);
  if (!v.saveOnStop) throw new QubesError(`The root volume of ${vmName} is not persistent`);
  if (!isFilePool(v.pool)) throw new QubesError(`Importing into pool ${v.poolName} (driver ${driverOf(v)}) comes with the storage subsystem`);
  const size = importImage(file, imagePath(v.pool, v.vid), v.size, move);
  if (size > v.size) {
    await store.update((a) => {
      const c = a.domains.get(vmName)?.volumeConfig.find((x) => volumeAttr(x, 'name') === 'root');
      if (c) setVolumeAttr(c, 'size', String(size));
    });
  }
}

// ---- remove --------------------------------------------------------------------

/** Refusal with the references that keep the qube in use (for the tool's report). */
export class VmInUseReport extends QubesError {
  override name = 'QubesVMInUseError';
  constructor(
    message: string,
    readonly vmName: string,
    readonly usages: { holder: string | null; prop: string }[],
  ) {
    super(message);
  }
}

/**
 * Remove one qube from the store (one update), then its image directories
 * outside the lock. Returns warnings (disk removal problems are not fatal).
 * @throws VmInUseReport, QubesError
 */
export async function removeQube(store: Store, name: string): Promise<string[]> {
  let dirs: string[] = [];
  await store.update(async (app) => {
    const vm = app.domains.get(name);
    if (!vm) throw new QubesVMNotFoundError(name);
    if (vm.klass === 'AdminVM') throw new QubesError(`Domain '${vm.name}' cannot be removed.`);
    await app.vmm.refresh([vm]);
    if (app.vmm.info(vm).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${vm.name}'`);
    const usages = app.usagesOf(vm);
    if (usages.length > 0 && vm.get('installed_by_rpm') !== true)
      throw new VmInUseReport(
        `Domain is in use: '${vm.name}'`,
        vm.name,
        usages.map((u) => ({ holder: u.holder?.name ?? null, prop: u.prop })),
      );
    dirs = imageDirs(app.pools, vm.name, vm.volumeConfig);
    app.removeVm(vm);
  });
  return removeDirs(dirs);
}
