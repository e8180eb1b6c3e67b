// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A storage pool: a named instance of a driver (the `<pool/>` record of
 * qubes.xml) and the driver-independent volume contract every driver
 * implements. Operations are async: drivers run programs (lvm) or do
 * file work that callers may run side by side.
 *
 * The contract (spec storage.md §2.2):
 *   create   once per lifetime; origin volumes get empty data of `size`
 *   remove   everything of the vid (data, running copy, revisions, leftovers)
 *   start    volatile: fresh empty; snapshot: copy of the source's committed
 *            state; origin: running copy of the committed state, or keep
 *            the uncommitted one of a crashed run
 *   stop     origin: commit (old state becomes a revision, pruned to
 *            revisions_to_keep); others: discard. Idempotent.
 *   verify   data needed to start is there
 *   export   a path with the committed state (pre-start while running)
 *   importData / importDataEnd   a path to write a whole new image, then
 *            commit it (success) or drop it
 *   importVolume   copy another volume's committed data (any pool)
 *   resize, revert, isDirty, isOutdated, revisions, size, usage
 *
 * Every operation that changes a volume's data runs under that volume's
 * lock (volume-lock.ts), taken here and not in the drivers, which implement
 * the `do*` methods. When a command takes the lock anew, nobody else works
 * on the volume: what the driver's `recoverLeftovers` finds then (an import
 * target, a temporary copy) is a killed command's, and is removed before
 * the operation. So a leftover never blocks the next operation, and the
 * next operation on the volume (or its removal) is what cleans it. An
 * import holds the lock from importData to importDataEnd.
 *
 * Reference: qubes-core-admin: qubes/storage/__init__.py (Pool, Volume).
 */
import path from 'node:path';
import type { Pool } from '../app/app.js';
import { StoragePoolError } from '../errors.js';
import type { CommandRunner } from './command-runner.js';
import { DRIVER_CONFIG_KEYS, DRIVER_PARAMETERS, type DriverName } from './driver-names.js';
import { parseQubesBool, Volume, type Revision, type VolumeOwner, type VolumeSettings } from './volume.js';
import type { CopyWatcher } from './copy-watch.js';
import { lockVolume, type VolumeLock } from './volume-lock.js';

/** Where drivers find the outside world; tests substitute parts. */
export interface StorageContext {
  runner: CommandRunner;
  /** Milliseconds since the epoch (lvm revision names). */
  now: () => number;
  /** Running markers (`volume-running-*`), /var/run/qubes. */
  runDir: string;
  /** Device nodes, /dev (lvm checks /dev/VG/LV). */
  devDir: string;
  /** How long to wait for a volume another command works on (default: the store lock's timeout). */
  lockTimeoutMs?: number;
  /**
   * Aborted when the command is cancelled (SIGINT, SIGTERM): long data
   * copies stop at once and fail with QubesCancelledError. Removing what
   * was made does not look at it.
   */
  signal?: AbortSignal;
  /**
   * Offline mode: the store is prepared without running anything (an
   * installer's chroot), possibly for another kernel than this one, so
   * what this host provides (device-mapper) is not checked.
   */
  offline?: boolean;
  /** The callback pools' configuration file (default /etc/qubes_callback.json). */
  callbackConfig?: string;
  /**
   * Told of long data copies into volumes (no reflink possible), whose
   * bytes it counts: the command shows their progress (copy-watch.ts).
   */
  watchCopy?: CopyWatcher;
  /** Hears each PoolSet made with this context (a session counts how many its command made). */
  onPoolSet?: () => void;
}

/** The hold of an import in progress (importData → importDataEnd), per volume lock, process-wide. */
const importHolds = new Map<string, VolumeLock>();

export interface BlockDevice {
  path: string;
  name: string;
  rw: boolean;
  devtype: 'disk';
}

export interface PoolSpace {
  size?: number;
  usage?: number;
  /** `data_size`, `data_usage`, driver extras; only known values. */
  details: Record<string, number>;
}

/**
 * A record names only options of its driver, and all the required ones.
 * @throws StoragePoolError
 */
export function checkPoolOptions(record: Pool): void {
  const keys = record.attrs.map(([k]) => k).filter((k) => k !== 'name' && k !== 'driver');
  const { unexpected, missing } = poolOptionProblems(record.driver as DriverName, keys);
  if (unexpected.length) throw new StoragePoolError(`Unexpected driver options found: ${unexpected.join(', ')}`);
  if (missing.length) throw new StoragePoolError(`missing required driver options: ${missing.join(' ')}`);
}

/**
 * Which of `keys` (a pool's options, without its name and driver) the
 * driver does not take, and which options it requires are not among them
 * (in the driver's order). Callers word the refusal: the library as a
 * StoragePoolError, the Admin API in the reference's classes.
 */
export function poolOptionProblems(driver: DriverName, keys: readonly string[]): { unexpected: string[]; missing: string[] } {
  const params = DRIVER_PARAMETERS[driver];
  const known = new Set(params.map((p) => p.name));
  return {
    unexpected: keys.filter((k) => !known.has(k)),
    missing: params.filter((p) => p.required && !keys.includes(p.name)).map((p) => p.name),
  };
}

export abstract class StoragePool {
  abstract readonly driver: DriverName;

  constructor(
    readonly record: Pool,
    protected readonly ctx: StorageContext,
  ) {
    checkPoolOptions(record);
  }

  get name(): string {
    return this.record.name;
  }

  /** Pool default for new volumes (`1` unless set). */
  get revisionsToKeep(): number {
    const raw = this.record.attr('revisions_to_keep');
    if (raw === undefined) return 1;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < -1) throw new StoragePoolError(`Invalid revisions_to_keep '${raw}' of pool ${this.name}`);
    return n;
  }

  get ephemeralVolatile(): boolean {
    return parseQubesBool(this.record.attr('ephemeral_volatile'), `ephemeral_volatile of pool ${this.name}`);
  }

  /** The attributes saved in qubes.xml, in the reference's order. */
  config(): [string, string][] {
    const out: [string, string][] = [];
    for (const k of DRIVER_CONFIG_KEYS[this.driver]) {
      const v = this.record.attr(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }

  /** Prepare the pool when added (directories, checks). */
  abstract setup(): Promise<void>;

  /**
   * Refuse when this host lacks what the pool's volumes need to start
   * (the file driver's device-mapper), so that no pool or qube is made
   * that could never run. Checked by `qvm-pool add` and by the drivers
   * before they make such volumes; not in offline mode.
   * @throws StoragePoolError naming what is missing
   */
  async checkHost(): Promise<void> {}

  abstract space(): Promise<PoolSpace>;

  /** The vids of the volumes in this pool. */
  abstract listVolumes(): Promise<string[]>;

  /**
   * Check and complete a volume's settings for this pool (the reference's
   * init_volume; touches nothing on disk).
   */
  initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    if (s.snapOnStart && s.saveOnStop) throw new StoragePoolError(`Volume ${s.vid}: snap_on_start together with save_on_stop is not supported`);
    return new Volume(s, owner, this.ephemeralVolatile);
  }

  // ---- the volume contract: operations on data, each under the volume's lock ----

  async create(v: Volume): Promise<void> {
    await this.underLock(v, () => this.doCreate(v));
  }
  /** Everything of the volume goes, leftovers included, in the driver's own order. */
  async remove(v: Volume): Promise<void> {
    await this.underLock(v, () => this.doRemove(v), false);
  }
  async start(v: Volume): Promise<void> {
    await this.underLock(v, () => this.doStart(v));
  }
  async stop(v: Volume): Promise<void> {
    await this.underLock(v, () => this.doStop(v));
  }
  /** A path to write a whole new image of `size` bytes to; the lock stays held until importDataEnd. */
  async importData(v: Volume, size: number): Promise<string> {
    const lock = await this.lockFor(v, true);
    try {
      const target = await this.doImportData(v, size);
      const key = this.lockKey(v);
      await importHolds.get(key)?.release();
      importHolds.set(key, lock);
      return target;
    } catch (e) {
      await lock.release();
      throw e;
    }
  }
  async importDataEnd(v: Volume, success: boolean): Promise<void> {
    const key = this.lockKey(v);
    try {
      await this.underLock(v, () => this.doImportDataEnd(v, success));
    } finally {
      const hold = importHolds.get(key);
      importHolds.delete(key);
      await hold?.release();
    }
  }
  async importVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    await this.underLock(v, () => this.doImportVolume(v, src, srcPool));
  }
  async resize(v: Volume, size: number): Promise<void> {
    await this.underLock(v, () => this.doResize(v, size));
  }
  async revert(v: Volume, revision?: string): Promise<void> {
    await this.underLock(v, () => this.doRevert(v, revision));
  }

  private lockKey(v: Volume): string {
    return `${this.ctx.runDir}\0${this.name}\0${v.vid}`;
  }

  /** False for drivers whose data nothing here ever writes (kernels): their operations need no lock. */
  protected readonly changesData: boolean = true;

  /** The volume's lock; taken anew by this process, a dead command's leftovers are removed first (`recover`). */
  private async lockFor(v: Volume, recover: boolean): Promise<VolumeLock> {
    if (!this.changesData) return { release: async () => {} };
    return lockVolume(this.ctx, this.name, v.vid, recover ? () => this.recoverLeftovers(v) : undefined);
  }

  private async underLock<T>(v: Volume, work: () => Promise<T>, recover = true): Promise<T> {
    const lock = await this.lockFor(v, recover);
    try {
      return await work();
    } finally {
      await lock.release();
    }
  }

  /**
   * Remove what a killed operation on `v` left (import target, temporary
   * copies). Called only with the volume's lock freshly taken, when no
   * command can be working on it. Never touches the committed data, its
   * revisions or a running (dirty) copy: those are the volume's state.
   */
  protected async recoverLeftovers(_v: Volume): Promise<void> {}

  /** recoverLeftovers of another pool: for a driver that wraps one (callback), whose lock is the wrapped pool's. */
  protected static recoverLeftoversOf(pool: StoragePool, v: Volume): Promise<void> {
    return pool.recoverLeftovers(v);
  }

  protected abstract doCreate(v: Volume): Promise<void>;
  protected abstract doRemove(v: Volume): Promise<void>;
  protected abstract doStart(v: Volume): Promise<void>;
  protected abstract doStop(v: Volume): Promise<void>;
  protected abstract doImportData(v: Volume, size: number): Promise<string>;
  protected abstract doImportDataEnd(v: Volume, success: boolean): Promise<void>;
  protected abstract doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void>;
  protected abstract doResize(v: Volume, size: number): Promise<void>;
  protected abstract doRevert(v: Volume, revision?: string): Promise<void>;

  // ---- reading ----

  abstract verify(v: Volume): Promise<void>;
  /** A path holding the committed state; callers end with exportEnd. */
  abstract export(v: Volume): Promise<string>;
  async exportEnd(_v: Volume, _path: string): Promise<void> {}
  abstract isDirty(v: Volume): Promise<boolean>;
  abstract isOutdated(v: Volume): Promise<boolean>;
  /** Oldest first. */
  abstract revisions(v: Volume): Promise<Revision[]>;
  /** Real size of the backing object, else the nominal size. */
  abstract size(v: Volume): Promise<number>;
  abstract usage(v: Volume): Promise<number>;
  /** Path of the data the qube sees (driver specific; shown by qvm-volume info). */
  abstract path(v: Volume): string;
  abstract blockDevice(v: Volume): BlockDevice | undefined;

  /**
   * Where the dm-crypt mapping of an ephemeral volume appears:
   * `<dev>/mapper/vm-volatile-<qube, _ as _u and - as _d>-crypt@<volume>`
   * (the escaping keeps it apart from names LVM and other pools use).
   */
  encryptedVolumePath(v: Volume): string {
    const qube = (v.owner?.name ?? '').replace(/_/g, '_u').replace(/-/g, '_d');
    return path.join(this.ctx.devDir, 'mapper', `vm-volatile-${qube}-crypt@${v.name}`);
  }

  /** The pool whose storage physically holds this one (file pools inside another's directory). */
  includedIn(_pools: readonly StoragePool[]): StoragePool | undefined {
    return undefined;
  }
}
