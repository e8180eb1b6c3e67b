// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating, cloning and removing qubes across the store's lock phases, and
 * importing a root image into a new one.
 *
 * Locking (spec §4.3): the record is created under one store update; the
 * volumes are made by the storage drivers after the lock is released, so a
 * large copy does not hold up every other writer; if that fails a second
 * update removes the record again.
 * The power state a clone or removal needs is asked from the hypervisor
 * before the lock is taken; the update only re-checks that the qube is still
 * the same one. Nothing is written when a check fails.
 *
 * Reference: qubes-core-admin: qubes/app.py add_new_vm, api/admin.py
 * _vm_create / vm_remove, qubes/storage/__init__.py; qubes-core-admin-client:
 * qubesadmin/app.py clone_vm; shared/spec/store-and-core-tools.md §4.3, §10.
 */
import fs from 'node:fs';
import { LibvirtNoDomainError, QubesError, QubesValueError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import { importFile } from '../storage/copy-data.js';
import { createDir } from '../storage/durable-fs.js';
import { PoolSet, type QubeStorage } from '../storage/qube-storage.js';
import { settingsFromConfig } from '../storage/volume.js';
import { recordVolume } from '../storage/volume-admin.js';
import { ioReason } from '../util/io-error.js';
import { copyRules } from '../firewall/firewall.js';
import { applyStandaloneDefault } from '../vm/boot-modes.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { addVmRecord, copyAttributes, syncKernelVid, type PoolChoice } from '../vm/vm-factory.js';
import { propertiesFor, runsHere, type VmClass } from '../vm/vm-properties.js';
import { volumeAttr } from '../vm/volume-config.js';
import type { Qubes } from './app.js';
import { copyNotes } from './qube-notes.js';
import type { Store } from './store.js';
import type { Vmm } from '../vmm/vmm.js';

/** What a `recordQube` callback added: the qube, and which volumes to fill from another qube. */
interface RecordedQube {
  vm: QubesVM;
  copyFrom?: { src: string; volumes: string[] };
}

/**
 * The lock phases create and clone share: `recordQube` adds the qube in a
 * store update; its volumes are made (and filled from the source) after
 * the lock is released, so a large copy does not hold up other writers.
 * If that fails, whatever was made is removed and a second update drops
 * the record again (matched by uuid: a same-named qube made since stays).
 */
async function createWithStorage(store: Store, recordQube: (app: Qubes) => RecordedQube | Promise<RecordedQube>): Promise<string> {
  const { name, uuid, copyFrom } = await store.update(async (app) => {
    const { vm, copyFrom: from } = await recordQube(app);
    if (from?.volumes.includes('root')) applyStandaloneDefault(vm); // the root it gets decides the boot mode
    return { name: vm.name, uuid: vm.props.get('uuid') as string, copyFrom: from };
  });
  const app = store.read();
  const vm = app.domains.get(name);
  if (!vm || vm.props.get('uuid') !== uuid) throw new QubesError(`Qube ${name} was removed while its volumes were being made`);
  const pools = new PoolSet(app);
  let storage: QubeStorage | undefined;
  const dir = qubeDirPath(app.baseDir, vm);
  try {
    if (dir) createDir(dir);
    storage = await pools.qube(vm);
    await storage.create(copyFrom?.volumes ?? []);
    if (copyFrom) {
      const src = app.domains.get(copyFrom.src);
      if (!src) throw new QubesVMNotFoundError(copyFrom.src);
      await storage.cloneFrom(await pools.qube(src), copyFrom.volumes);
    }
  } catch (e) {
    await storage?.removeData();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    try {
      await dropRecord(store, name, uuid);
    } catch (e2) {
      throw new QubesError(`${(e as Error).message}; removing the new qube ${name} failed too: ${(e2 as Error).message}`);
    }
    throw new QubesError(`Creating the volumes of ${name} failed, qube removed: ${(e as Error).message}`);
  }
  return name;
}

/** Remove the record created by us (matched by uuid) in a new update. */
async function dropRecord(store: Store, name: string, uuid: string): Promise<void> {
  await store.update((app) => {
    const vm = app.domains.get(name);
    if (vm && vm.props.get('uuid') === uuid) app.domains.delete(vm);
  });
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
  const name = await createWithStorage(store, (app) => {
    check?.(app);
    let vm: QubesVM;
    let copyFrom: RecordedQube['copyFrom'];
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
      copyFrom = { src: src.name, volumes: ['root'] };
    } else {
      vm = addVmRecord(app, req);
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
  });
  return { name, propErrors, warnings: [] };
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
 * persistent volumes, notes and firewall rules. Returns the warnings
 * (properties, notes, rules skipped with `ignoreErrors`) for the caller to
 * print after the operation.
 */
export async function cloneQube(store: Store, req: CloneRequest): Promise<{ warnings: string[] }> {
  const checked = await requireHalted(store, req.source, (src) => {
    if (src.klass === 'AdminVM') throw new QubesValueError(`Cannot clone ${src.name}`);
  });
  const copyWarnings: string[] = [];
  const name = await createWithStorage(store, (app) => {
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
    });
    copyAttributes(src, vm, true, req.ignoreErrors ? (msg) => copyWarnings.push(msg) : undefined);
    syncKernelVid(vm);
    const persistent = vm.volumeConfig
      .map((c) => settingsFromConfig(c))
      .filter((v) => v.saveOnStop && !v.snapOnStart && src.volumeConfig.some((c) => volumeAttr(c, 'name') === v.name))
      .map((v) => v.name);
    return { vm, copyFrom: { src: src.name, volumes: persistent } };
  });
  const copies: [string, () => Promise<unknown>][] = [
    ['notes', () => copyNotes(store, req.source, name)],
    ['firewall rules', () => copyRules(store, req.source, name, Date.now())],
  ];
  for (const [what, copy] of copies) {
    try {
      await copy();
    } catch (e) {
      if (!(e instanceof QubesError)) throw e;
      if (req.ignoreErrors) copyWarnings.push(`Failed to copy ${what}: ${e.message}`);
      else {
        await removeQube(store, name);
        throw new QubesError(`Copying the ${what} failed, qube ${name} removed: ${e.message}`);
      }
    }
  }
  return { warnings: copyWarnings };
}

// ---- root import ---------------------------------------------------------------

/**
 * Replace the root volume's data with `file` (qvm-create -r/-R) through
 * the driver's import (the old state may become a revision); grows the
 * volume (and its recorded size) when the file is larger. Runs outside
 * the lock; only a grown size takes an update.
 */
export async function importRoot(store: Store, vmName: string, file: string, move: boolean): Promise<void> {
  const app = store.read();
  const vm = app.domains.get(vmName);
  if (!vm) throw new QubesVMNotFoundError(vmName);
  const pools = new PoolSet(app);
  const { volume, pool } = (await pools.qube(vm)).require('root');
  if (!volume.isOrigin) throw new QubesError(`The root volume of ${vm.name} is not persistent`);
  let fileSize: number;
  try {
    fileSize = fs.statSync(file).size;
  } catch (e) {
    throw new QubesError(`Cannot read ${file}: ${ioReason(e)}`);
  }
  const size = Math.max(fileSize, await pool.size(volume));
  const target = await pool.importData(volume, size);
  try {
    await importFile(file, target, size, pools.ctx.runner);
  } catch (e) {
    await pool.importDataEnd(volume, false);
    throw e;
  }
  await pool.importDataEnd(volume, true);
  if (move) fs.rmSync(file, { force: true });
  if (size > volume.size) await recordVolume(store, vmName, 'root', [['size', String(size)]]);
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
  // dom0 never halts: skip the power check and let removeVm refuse it; a remote qube has no power state here.
  const checked = await requireHalted(store, name, (vm) => !runsHere(vm.klass));
  let storage: QubeStorage | undefined;
  let dir = '';
  const problems: string[] = [];
  await store.update(async (app) => {
    const vm = sameQube(app, name, checked);
    try {
      storage = await new PoolSet(app).qube(vm);
    } catch (e) {
      // a pool we cannot open must not keep a qube in the store forever
      problems.push(`cannot remove the volumes of ${name}: ${(e as Error).message}`);
    }
    dir = qubeDirPath(app.baseDir, vm) ?? '';
    app.removeVm(vm);
  });
  problems.push(...((await storage?.removeData()) ?? []));
  try {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    problems.push(`cannot remove ${dir}: ${ioReason(e)}`);
  }
  if (checked.uuid && !store.vmm.offline && runsHere(checked.klass)) {
    try {
      await undefineDomain(store.vmm, checked.uuid);
    } catch (e) {
      problems.push(`cannot remove the libvirt domain of ${name}: ${(e as Error).message}`);
    }
  }
  return problems;
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
