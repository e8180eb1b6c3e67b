// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What `qvm-volume` does to one volume: its info, its settings
 * (rw, revisions_to_keep, ephemeral), resize, revert, import, clone and
 * clear. Data work runs outside the store lock; a changed setting or size
 * is recorded in its own store update.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py vm_volume_*,
 * qubes/storage/__init__.py Storage; spec storage.md §2.2, §5, §7.
 */
import type { Readable } from 'node:stream';
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { QubesCancelledError, QubesError, QubesValueError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import { importStream } from './copy-data.js';
import { counterFor } from './copy-watch.js';
import type { PoolSet, QubeVolume } from './qube-storage.js';
import { checkEphemeral, parseQubesBool } from './volume.js';

/** A `VM:VOLUME` argument, resolved. */
export interface VolumeRef {
  vm: QubesVM;
  name: string;
  qv: QubeVolume;
  pools: PoolSet;
}

/**
 * The one place a `QUBE:VOLUME` argument is resolved: an unknown qube is a
 * usage error as everywhere else (QubesVMNotFoundError), an unknown volume
 * a runtime error.
 * @throws QubesVMNotFoundError, QubesError "vm 'x' has no volume 'y'"
 */
export async function resolveVolume(app: Qubes, vmName: string, volume: string, pools: PoolSet): Promise<VolumeRef> {
  const vm = app.domains.get(vmName);
  if (!vm) throw new QubesVMNotFoundError(vmName);
  if (!vm.volumeConfig.some((c) => volumeAttr(c, 'name') === volume)) throw new QubesError(`vm '${vmName}' has no volume '${volume}'`);
  const qv = (await pools.qube(vm)).require(volume);
  return { vm, name: volume, qv, pools };
}

/** @throws QubesVMNotHaltedError */
export async function requireHalted(app: Qubes, vm: QubesVM, what: string): Promise<void> {
  await app.vmm.refresh([vm]);
  if (app.vmm.info(vm).state !== 'Halted') throw new QubesVMNotHaltedError(`${what}: qube ${vm.name} is not halted`);
}

/** A volume's settings and state, typed (`qvm-volume info --format json`); `source` null when it has none. */
export interface VolumeFacts {
  pool: string;
  vid: string;
  size: number;
  usage: number;
  rw: boolean;
  source: string | null;
  path: string;
  save_on_stop: boolean;
  snap_on_start: boolean;
  revisions_to_keep: number;
  ephemeral: boolean;
  is_outdated: boolean;
}

export async function volumeFacts(ref: VolumeRef): Promise<VolumeFacts> {
  const { volume: v, pool } = ref.qv;
  return {
    pool: pool.name,
    vid: v.vid,
    size: await pool.size(v),
    usage: await pool.usage(v),
    rw: v.rw,
    source: v.source ?? null,
    path: pool.path(v),
    save_on_stop: v.saveOnStop,
    snap_on_start: v.snapOnStart,
    revisions_to_keep: v.revisionsToKeep,
    ephemeral: v.ephemeral,
    is_outdated: await pool.isOutdated(v),
  };
}

/** The rows of `admin.vm.volume.Info` in the reference's order (missing values empty, booleans as Python spells them). */
export async function volumeInfo(ref: VolumeRef): Promise<[string, string][]> {
  const f = await volumeFacts(ref);
  const text = (x: string | number | boolean | null) => (x === null ? '' : typeof x === 'boolean' ? (x ? 'True' : 'False') : String(x));
  const order: (keyof VolumeFacts)[] = ['pool', 'vid', 'size', 'usage', 'rw', 'source', 'path', 'save_on_stop', 'snap_on_start', 'revisions_to_keep', 'ephemeral', 'is_outdated'];
  return order.map((k) => [k, text(f[k])]);
}

/** Revision ids, oldest first. */
export async function revisionIds(ref: VolumeRef): Promise<string[]> {
  return (await ref.qv.pool.revisions(ref.qv.volume)).map((r) => r.id);
}

/** Record attributes of a volume in the store (one update). */
export async function recordVolume(store: Store, vmName: string, volume: string, attrs: [string, string][]): Promise<void> {
  await store.update((app) => {
    const cfg = app.domains.get(vmName)?.volumeConfig.find((c) => volumeAttr(c, 'name') === volume);
    if (!cfg) throw new QubesError(`vm '${vmName}' has no volume '${volume}'`);
    for (const [k, v] of attrs) setVolumeAttr(cfg, k, v);
  });
}

export const CONFIGURABLE = ['rw', 'revisions_to_keep', 'ephemeral'];

/**
 * `qvm-volume config`: rw (halted only), revisions_to_keep (>= -1; to or
 * from -1 only with the qube and its DispVMs halted), ephemeral.
 */
export async function configureVolume(store: Store, ref: VolumeRef, prop: string, value: string): Promise<void> {
  const app = ref.pools.app;
  const v = ref.qv.volume;
  let stored: string;
  if (prop === 'rw') {
    await requireHalted(app, ref.vm, 'Cannot change rw');
    stored = parseQubesBool(value, 'rw') ? 'True' : 'False';
  } else if (prop === 'revisions_to_keep') {
    if (!/^-?\d+$/.test(value.trim()) || Number(value) < -1) throw new QubesValueError('Invalid value for revisions_to_keep');
    const n = Number(value);
    ref.qv.pool.initVolume({ ...v.settings(), revisionsToKeep: n });
    if ((n === -1) !== (v.revisionsToKeep === -1)) {
      const dispvms = app.domains.all().filter((d) => d.klass === 'DispVM' && d.props.get('template') === ref.vm.name);
      for (const q of [ref.vm, ...dispvms]) await requireHalted(app, q, 'Cannot switch snapshots on or off');
    }
    stored = String(n);
  } else if (prop === 'ephemeral') {
    const on = parseQubesBool(value, 'ephemeral');
    checkEphemeral(v, on);
    stored = on ? 'True' : 'False';
  } else throw new QubesValueError(`Invalid property: ${prop}`);
  await recordVolume(store, ref.vm.name, ref.name, [[prop, stored]]);
}

/** Resize the data, then record the size. The shrink guard lives in the CLI (as in the reference). */
export async function resizeVolume(store: Store, ref: VolumeRef, size: number): Promise<void> {
  await ref.qv.pool.resize(ref.qv.volume, size);
  await recordVolume(store, ref.vm.name, ref.name, [['size', String(size)]]);
}

/** @throws QubesError "No snapshots available" when there is none */
export async function revertVolume(ref: VolumeRef, revision?: string): Promise<void> {
  const ids = await revisionIds(ref);
  if (ids.length === 0) throw new QubesError('No snapshots available');
  if (revision !== undefined && !ids.includes(revision)) throw new QubesError(`Revision ${revision} of ${ref.vm.name}:${ref.name} not found`);
  await ref.qv.pool.revert(ref.qv.volume, revision ?? ids.at(-1));
}

/**
 * Replace a volume's data with exactly `size` bytes from `input` (a
 * complete new image); the old state may become a revision. The qube must
 * be halted. When `size` differs from the recorded size it is recorded.
 */
export async function importVolumeData(store: Store, ref: VolumeRef, input: Readable, size: number): Promise<void> {
  await requireHalted(ref.pools.app, ref.vm, 'Cannot import');
  const { volume: v, pool } = ref.qv;
  const target = await pool.importData(v, size);
  try {
    await importStream(input, target, size, ref.pools.ctx.signal, counterFor(ref.pools.ctx.watchCopy, v.vid));
  } catch (e) {
    await pool.importDataEnd(v, false);
    if (e instanceof QubesCancelledError) throw new QubesCancelledError(`Import into ${ref.vm.name}:${ref.name} cancelled; the volume keeps its data`, e.signal);
    throw new QubesError(`Data import failed: ${(e as Error).message}`);
  }
  await pool.importDataEnd(v, true);
  if (size !== v.size) await recordVolume(store, ref.vm.name, ref.name, [['size', String(size)]]);
}

/** `qvm-volume clear`: an all-zero image of the current size (the old state may become a revision). */
export async function clearVolume(store: Store, ref: VolumeRef): Promise<void> {
  const { volume: v, pool } = ref.qv;
  const size = await pool.size(v);
  await pool.importData(v, size);
  await pool.importDataEnd(v, true);
  if (size !== v.size) await recordVolume(store, ref.vm.name, ref.name, [['size', String(size)]]);
}

/** `qvm-volume clone`: the committed data of `src` replaces `dst`'s (both save_on_stop); dst's size follows. */
export async function cloneVolume(store: Store, src: VolumeRef, dst: VolumeRef): Promise<void> {
  if (!src.qv.volume.saveOnStop || !dst.qv.volume.saveOnStop) throw new QubesError('Volumes must be save_on_stop for cloning');
  await requireHalted(dst.pools.app, dst.vm, 'Cannot clone into a running qube');
  await dst.qv.pool.importVolume(dst.qv.volume, src.qv.volume, src.qv.pool);
  const size = await dst.qv.pool.size(dst.qv.volume);
  if (size !== dst.qv.volume.size) await recordVolume(store, dst.vm.name, dst.name, [['size', String(size)]]);
}
