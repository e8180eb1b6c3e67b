// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * New qube records in memory: the class check, the pool of each volume
 * (from -P / -p, a fallback, or the global defaults), a free dispid, the
 * record itself (qid, uuid, label, template, volume-config, automatic tags
 * and features) and what a clone copies from its source. The store and the
 * disk are not touched here: lib/ops/new-qube.ts runs these under the
 * store lock, lib/storage/qube-storage.ts makes the volumes.
 *
 * Reference: qubes-core-admin: qubes/app.py add_new_vm, qubes/vm/dispvm.py;
 * qubes-core-admin-client: qubesadmin/app.py clone_vm;
 * shared/spec/store-and-core-tools.md §10.
 */
import crypto from 'node:crypto';
import { MAX_DISPID } from '../config.js';
import { QubesError, QubesValueError, QubesVMNotFoundError } from '../errors.js';
import { addTag, CREATED_BY_PREFIX } from '../vm/admin-extension.js';
import { validateVmName } from '../vm/names.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { CREATABLE_CLASSES, syncGuiTags, type VmClass } from '../vm/vm-properties.js';
import { DEFAULT_VOLUMES, defaultVolumeConfig, setVolumeAttr, volumeAttr, type PoolInfo } from '../vm/volume-config.js';
import type { Pool, Qubes } from './app.js';
const { randomInt, randomUUID } = crypto;

const VOLUME_NAMES: readonly string[] = ['root', 'private', 'volatile', 'kernel'];

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

/** A pool as volume planning sees it; `naming` is the pool whose driver names its volumes (see RecordRequest.namingPool). */
function poolInfo(pool: Pool, naming: Pool = pool): PoolInfo {
  return {
    name: pool.name,
    driver: naming.driver,
    revisionsToKeep: naming.attr('revisions_to_keep'),
    volumeGroup: naming.attr('volume_group'),
    container: naming.attr('container'),
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
function poolChooser(app: Qubes, klass: VmClass, req: RecordRequest) {
  const { pools: choice, poolFallback: fallback } = req;
  const info = (pool: Pool) => poolInfo(pool, req.namingPool?.(pool));
  const defaults = DEFAULT_VOLUMES[klass] ?? [];
  return (volume: string, originPool: string | undefined): PoolInfo => {
    const d = defaults.find((x) => x.name === volume);
    const explicit = choice.perVolume.get(volume);
    if (originPool !== undefined) {
      if (explicit !== undefined && explicit !== originPool)
        throw new QubesValueError(
          `Volume ${volume} of the new ${klass} is a snapshot of its template's volume and must stay in pool ${originPool}`,
        );
      return info(needPool(app, originPool));
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
    return info(needPool(app, name));
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
  /**
   * The pool whose driver names a pool's new volumes and gives their
   * revisions_to_keep: a callback pool's are named by the pool it wraps,
   * which only the storage layer knows (it reads the callback
   * configuration). Default: the pool itself.
   */
  namingPool?: (pool: Pool) => Pool;
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
    poolFor: poolChooser(app, req.klass, req),
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
  addTag(vm, `${CREATED_BY_PREFIX}dom0`);
  syncGuiTags(vm);
  sortTags(vm);
  if (app.get('check_updates_vm') === false) vm.features.set('check-updates', false);
  app.domains.add(vm);
  return vm;
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
