// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `zfs` driver: volumes are sparse zvols under the pool's `container`
 * dataset, `<container>/<qube>/<volume>`, used by the qube as
 * `/dev/zvol/<vid>`. State lives in ZFS itself:
 *
 *   <vid>@qubes:<cause>:<seconds.micro>   revision (cause after-create,
 *                                         before-start, after-import-volume,
 *                                         after-import-data)
 *   <vid>@qubes-clean-<8 letters>         the last clean state: what clones,
 *                                         exports and snapshot volumes copy
 *   org.qubes:dirty=on|off                the volume is in use (started)
 *   <container>/.tmp/<vid, / as _>        a copy being made (renamed over <vid>)
 *   <container>/.importing/<vid as _>     import target
 *   <container>/.exported/<vid as _>/<8 letters>  an export (a clone)
 *
 *   class      start                                   stop
 *   volatile   destroyed and made anew, empty          destroyed
 *   origin     revision before-start, dirty on          dirty off, new clean snapshot
 *              (used in place; a dirty one as it is)     (older clean snapshots go)
 *   snapshot   cloned from the source's clean snapshot   destroyed (kept, dirty off, with
 *              (kept while dirty), dirty on              snap_on_start_forensics)
 * Then every start sets `readonly` to the opposite of rw.
 *
 * Everything is done by running `zfs` and `zpool` (through sudo when not
 * root, LC_ALL=C.UTF-8) and read back from one recursive `zfs list` of the
 * container, re-read after every change. Mutations are the reference's
 * command lines; where the reference asks ZFS property by property and
 * caches for the daemon's lifetime, this driver (one process per command)
 * reads the one report instead.
 *
 * Reference: qubes-core-admin: qubes/storage/zfs.py; spec storage.md §3.5.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import timersPromises from 'node:timers/promises';
import type { Pool } from '../../app/app.js';
import { StoragePoolError } from '../../errors.js';
import { parseQubesBool } from '../volume.js';
import { asRoot, changeThenReload, sudoUnlessAccessible } from '../command-runner.js';
import { checkRun } from '../copy-data.js';
import { StoragePool, type BlockDevice, type PoolSpace, type StorageContext } from '../pool.js';
import { runningMarker } from '../running-marker.js';
import { isoDate, type Revision, type Volume, type VolumeOwner, type VolumeSettings } from '../volume.js';
import { VolumeQueue } from '../volume-queue.js';
const { randomInt } = crypto;
const { setTimeout: sleep } = timersPromises;

const POOL_FLAG = 'org.qubes-os:part-of-qvm-pool';
const DIRTY = 'org.qubes:dirty';
const REVISION_PREFIX = 'qubes:';
const CLEAN_PREFIX = 'qubes-clean';
/** Volumes wiped at every start are not worth zfs-auto-snapshot's snapshots. */
const NO_AUTO_SNAPSHOT = 'com.sun:auto-snapshot=false';
/** zfs output is parsed and quoted in errors, so it must not be translated. */
const ZFS_ENV = { LC_ALL: 'C.UTF-8' };

/** The columns of the report, in order. */
export const REPORT_COLUMNS = ['name', 'type', 'creation', 'volsize', 'readonly', DIRTY, 'defer_destroy', 'logicalreferenced'];

/** One dataset or snapshot as `zfs list -Hp` reports it (numbers in bytes and seconds). */
export interface ZfsEntry {
  type: string;
  creation: number;
  volsize?: number;
  readonly: boolean;
  dirty: boolean;
  deferDestroy: boolean;
  /** logicalreferenced: the bytes the qube wrote (what the reference reports as usage). */
  used?: number;
}

/** Name → entry, in the report's order. */
export type ZfsReport = Map<string, ZfsEntry>;

const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

/**
 * Parse `zfs list -Hp -o <REPORT_COLUMNS>` output: one tab-separated line
 * per dataset, `-` for a property that does not apply.
 * @throws StoragePoolError for a line of another shape
 */
export function parseZfsReport(text: string): ZfsReport {
  const out: ZfsReport = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split('\t');
    if (f.length !== REPORT_COLUMNS.length) throw new StoragePoolError(`Cannot read the zfs list report: unexpected line '${line}'`);
    const [name, type, creation, volsize, readonly, dirty, deferDestroy, used] = f as [string, string, string, string, string, string, string, string];
    out.set(name, {
      type,
      creation: num(creation) ?? 0,
      volsize: num(volsize),
      readonly: readonly === 'on',
      dirty: dirty === 'on',
      deferDestroy: deferDestroy === 'on',
      used: num(used),
    });
  }
  return out;
}

/** The zfs and zpool operations of the driver; `zfsArgv` is the one place that spells their options. */
export type ZfsAction =
  | { op: 'report'; container: string }
  | { op: 'pool-flag'; container: string }
  | { op: 'flag'; container: string }
  | { op: 'make-container'; container: string }
  | { op: 'create'; name: string; size: number; noAutoSnapshot: boolean }
  | { op: 'clone'; snapshot: string; name: string; noAutoSnapshot: boolean }
  | { op: 'rename'; from: string; to: string }
  | { op: 'snapshot'; snapshot: string }
  | { op: 'destroy'; name: string }
  | { op: 'set'; name: string; property: string; value: string }
  | { op: 'rollback'; snapshot: string }
  | { op: 'promote'; name: string }
  | { op: 'clones'; snapshot: string }
  | { op: 'zpool'; pool: string; property: 'size' | 'free' };

/** The argv of a zfs/zpool operation, with sudo when not root. */
export function zfsArgv(a: ZfsAction): string[] {
  const autoSnapshot = (no: boolean) => (no ? ['-o', NO_AUTO_SNAPSHOT] : []);
  const argv = ((): string[] => {
    switch (a.op) {
      case 'report':
        return ['zfs', 'list', '-Hp', '-r', '-t', 'filesystem,volume,snapshot', '-o', REPORT_COLUMNS.join(','), a.container];
      case 'pool-flag':
        return ['zfs', 'list', '-H', '-o', `name,${POOL_FLAG}`, a.container];
      case 'flag':
        return ['zfs', 'set', `${POOL_FLAG}=true`, 'volmode=dev', a.container];
      case 'make-container':
        // nothing below is mounted, no partitions of volumes show in dom0, udev knows it is Qubes'
        return ['zfs', 'create', '-o', 'mountpoint=none', '-o', 'volmode=dev', '-o', `${POOL_FLAG}=true`, '-p', a.container];
      case 'create':
        return ['zfs', 'create', '-p', '-s', '-V', String(a.size), ...autoSnapshot(a.noAutoSnapshot), a.name];
      case 'clone':
        return ['zfs', 'clone', '-p', ...autoSnapshot(a.noAutoSnapshot), a.snapshot, a.name];
      case 'rename':
        return ['zfs', 'rename', '-p', a.from, a.to];
      case 'snapshot':
        return ['zfs', 'snapshot', a.snapshot];
      case 'destroy':
        // a snapshot still backing a clone is destroyed when the clone goes (-d)
        return a.name.includes('@') ? ['zfs', 'destroy', '-d', '-r', a.name] : ['zfs', 'destroy', '-r', a.name];
      case 'set':
        return ['zfs', 'set', `${a.property}=${a.value}`, a.name];
      case 'rollback':
        return ['zfs', 'rollback', '-r', a.snapshot];
      case 'promote':
        return ['zfs', 'promote', a.name];
      case 'clones':
        return ['zfs', 'list', '-Hp', '-o', 'clones', a.snapshot];
      case 'zpool':
        return ['zpool', 'list', '-Hp', '-o', a.property, a.pool];
    }
  })();
  return asRoot(argv);
}

/** Why a zfs command failed, when the driver reacts to it. */
type ZfsFailure = 'busy' | 'dependent-clones' | 'missing' | 'other';

class ZfsCommandError extends StoragePoolError {
  constructor(
    message: string,
    readonly failure: ZfsFailure,
  ) {
    super(message);
  }
}

function failureOf(stderr: string): ZfsFailure {
  const err = stderr.trimEnd();
  if (err.endsWith('dataset is busy')) return 'busy';
  if (err.endsWith('has dependent clones') || stderr.includes('has dependent clones\n')) return 'dependent-clones';
  if (err.endsWith('dataset does not exist')) return 'missing';
  return 'other';
}

/** `<dataset>@<snapshot>` → `<snapshot>`. */
const snapshotPart = (s: string): string => s.slice(s.indexOf('@') + 1);

/** 8 random lowercase letters (clean snapshot and export names). */
const randomLetters = (): string => Array.from({ length: 8 }, () => String.fromCharCode(97 + randomInt(26))).join('');

/** How often and how long to retry a destroy of a dataset whose device a closing user still holds. */
const BUSY_TRIES = 20;
const BUSY_WAIT_MS = 250;
/** How long a new zvol's device node may take to appear (udev). */
const DEVICE_TRIES = 1000;
const DEVICE_WAIT_MS = 10;

interface Snapshot {
  name: string;
  creation: number;
  deferDestroy: boolean;
}

export class ZfsPool extends StoragePool {
  readonly driver = 'zfs' as const;
  readonly container: string;
  /** stderr of zfs runs that succeeded (the reference logs them as warnings), oldest first. */
  readonly warnings: string[] = [];
  private readonly queue = new VolumeQueue();
  private report: ZfsReport = new Map();
  private loadedOnce = false;
  private started = 0;
  private stored = 0;

  constructor(record: Pool, ctx: StorageContext) {
    super(record, ctx);
    this.container = record.attr('container') as string;
  }

  /** snap_on_start volumes are kept after their qube stops (for later inspection). */
  get snapOnStartForensics(): boolean {
    return parseQubesBool(this.record.attr('snap_on_start_forensics'), `snap_on_start_forensics of pool ${this.name}`);
  }

  /** The ZFS pool (zpool) holding the container. */
  private get zpool(): string {
    return this.container.split('/')[0] as string;
  }

  // ---- running zfs ----

  /**
   * Run a zfs/zpool argv.
   * @returns stdout
   * @throws ZfsCommandError with zfs's message on a non-zero exit
   */
  private async runZfs(argv: string[]): Promise<string> {
    const r = checkRun(await this.ctx.runner.run(argv, { env: ZFS_ENV, signal: this.ctx.signal }), this.ctx.signal);
    if (r.exitCode === 127) throw new ZfsCommandError('ZFS is not available on this system', 'other');
    const err = r.stderr.trim();
    if (r.exitCode !== 0) throw new ZfsCommandError(err || `${argv.join(' ')}: exit code ${r.exitCode}`, failureOf(r.stderr));
    if (err) this.warnings.push(err);
    return r.stdout;
  }

  /** Read the report again (a container that does not exist yet has no datasets). */
  async refresh(): Promise<void> {
    const seq = ++this.started;
    let report: ZfsReport;
    try {
      report = parseZfsReport(await this.runZfs(zfsArgv({ op: 'report', container: this.container })));
    } catch (e) {
      if (!(e instanceof ZfsCommandError && e.failure === 'missing')) throw e;
      report = new Map();
    }
    if (seq > this.stored) {
      this.report = report;
      this.stored = seq;
      this.loadedOnce = true;
    }
  }

  private async loaded(): Promise<ZfsReport> {
    if (!this.loadedOnce) await this.refresh();
    return this.report;
  }

  /** Change something, then re-read the report (also after a failure: part of it may have happened). */
  private change(a: ZfsAction): Promise<void> {
    return changeThenReload(
      () => this.runZfs(zfsArgv(a)),
      () => this.refresh(),
    );
  }

  // ---- names and state ----

  private flat = (v: Volume): string => v.vid.replaceAll('/', '_');
  private tmpOf = (v: Volume): string => `${this.container}/.tmp/${this.flat(v)}`;
  private importOf = (v: Volume): string => `${this.container}/.importing/${this.flat(v)}`;
  private exportsOf = (v: Volume, suffix?: string): string => `${this.container}/.exported/${this.flat(v)}${suffix ? `/${suffix}` : ''}`;

  /** `<devDir>/zvol/<dataset>`. */
  private dev(name: string): string {
    return path.join(this.ctx.devDir, 'zvol', name);
  }

  private exists(name: string): boolean {
    return this.report.has(name);
  }

  private dirty(name: string): boolean {
    return this.report.get(name)?.dirty ?? false;
  }

  /** Snapshots of a dataset, oldest first (by creation; zfs's order for the same second). */
  private snapshotsOf(name: string): Snapshot[] {
    const out: Snapshot[] = [];
    for (const [n, e] of this.report) if (e.type === 'snapshot' && n.startsWith(`${name}@`)) out.push({ name: n, creation: e.creation, deferDestroy: e.deferDestroy });
    return out.sort((a, b) => a.creation - b.creation);
  }

  private cleanSnapshots(name: string): Snapshot[] {
    return this.snapshotsOf(name).filter((s) => snapshotPart(s.name).startsWith(CLEAN_PREFIX));
  }

  /**
   * Revisions of a dataset, oldest first: `@qubes:<cause>:<seconds>`
   * snapshots not already destroyed (deferred), ordered by their time to
   * the second as the reference orders them.
   */
  private revisionsOf(name: string): Revision[] {
    const out = this.snapshotsOf(name)
      .filter((s) => snapshotPart(s.name).startsWith(REVISION_PREFIX) && !s.deferDestroy)
      .map((s) => {
        const id = snapshotPart(s.name);
        return { id, timestamp: isoDate(Number(id.split(':').at(-1)) * 1000) };
      });
    return out.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  }

  /** The snapshot clones and exports copy: the newest clean one, else the newest revision. */
  private cleanSource(name: string): string | undefined {
    const clean = this.cleanSnapshots(name).at(-1);
    if (clean) return clean.name;
    const rev = this.revisionsOf(name).at(-1);
    return rev ? `${name}@${rev.id}` : undefined;
  }

  private isRunning(vid: string): boolean {
    return fs.existsSync(runningMarker(this.ctx.runDir, this.name, vid));
  }

  // ---- zfs steps ----

  /** Wait for the device node of a new zvol (udev makes it). */
  private async waitForDevice(name: string): Promise<void> {
    for (let i = 0; i < DEVICE_TRIES; i++) {
      if (fs.existsSync(this.dev(name))) return;
      await sleep(DEVICE_WAIT_MS);
    }
    throw new StoragePoolError(`Device path ${this.dev(name)} never appeared`);
  }

  private async createVolume(name: string, size: number, noAutoSnapshot: boolean): Promise<void> {
    await this.change({ op: 'create', name, size, noAutoSnapshot });
    await this.waitForDevice(name);
  }

  /**
   * Destroy a dataset with everything below it, retrying while its device
   * is still held by a user closing it; when snapshots of it back clones
   * (a snapshot volume cloned from a revision), one clone per snapshot is
   * promoted to own it first.
   */
  private async destroyDataset(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.destroyPromoting(name);
        return;
      } catch (e) {
        if (!(e instanceof ZfsCommandError && e.failure === 'busy') || attempt >= BUSY_TRIES) throw e;
        await sleep(BUSY_WAIT_MS);
      }
    }
  }

  private async destroyPromoting(name: string): Promise<void> {
    try {
      await this.change({ op: 'destroy', name });
      return;
    } catch (e) {
      if (!(e instanceof ZfsCommandError && e.failure === 'dependent-clones')) throw e;
    }
    const promoted = new Set([name]);
    for (const snap of this.snapshotsOf(name)) {
      const out = (await this.runZfs(zfsArgv({ op: 'clones', snapshot: snap.name }))).trim();
      const clone = out === '' || out === '-' ? undefined : out.split(',').find((c) => !promoted.has(c));
      if (clone === undefined) continue;
      await this.change({ op: 'promote', name: clone });
      promoted.add(clone);
    }
    await this.change({ op: 'destroy', name });
  }

  private async destroyIfExists(name: string): Promise<void> {
    if (this.exists(name)) await this.destroyDataset(name);
  }

  /** The volume and what derives from it: import target, exports, copy in progress. */
  private async destroyAll(v: Volume): Promise<void> {
    await this.destroyIfExists(this.importOf(v));
    await this.destroyIfExists(this.exportsOf(v));
    await this.destroyIfExists(this.tmpOf(v));
    await this.destroyIfExists(v.vid);
  }

  /** Volumes written during a run get no auto-snapshots; persistent ones follow the admin's policy. */
  private noAutoSnapshot = (v: Volume): boolean => !v.saveOnStop;

  private async createEmpty(v: Volume, size = v.size): Promise<void> {
    await this.destroyIfExists(v.vid);
    await this.createVolume(v.vid, size, this.noAutoSnapshot(v));
  }

  /** A revision snapshot now (when revisions are kept), then prune to revisions_to_keep. */
  private async createRevision(v: Volume, cause: string): Promise<void> {
    if (v.revisionsToKeep > 0) {
      const seconds = (this.ctx.now() / 1000).toFixed(6);
      await this.change({ op: 'snapshot', snapshot: `${v.vid}@${REVISION_PREFIX}${cause}:${seconds}` });
    }
    const keep = Math.max(0, v.revisionsToKeep);
    const newestFirst = this.revisionsOf(v.vid).reverse();
    for (const r of newestFirst.slice(keep)) await this.change({ op: 'destroy', name: `${v.vid}@${r.id}` });
  }

  /** A new clean snapshot (none when snapshots are disabled); the older clean ones go. */
  private async markClean(vid: string, snapshotsDisabled: boolean): Promise<void> {
    const old = this.cleanSnapshots(vid);
    if (!snapshotsDisabled) await this.change({ op: 'snapshot', snapshot: `${vid}@${CLEAN_PREFIX}-${randomLetters()}` });
    for (const s of old) await this.change({ op: 'destroy', name: s.name });
  }

  /**
   * Make `<container>/.tmp/<vid>` with `make`, then put it in place of the
   * volume; on failure the temporary dataset goes and the volume is untouched.
   */
  private async twoPhase(v: Volume, make: (tmp: string) => Promise<void>): Promise<void> {
    const tmp = this.tmpOf(v);
    await this.destroyIfExists(tmp);
    try {
      await make(tmp);
      await this.destroyIfExists(v.vid);
      await this.change({ op: 'rename', from: tmp, to: v.vid });
    } catch (e) {
      await this.destroyIfExists(tmp);
      throw e;
    }
    await this.waitForDevice(v.vid);
  }

  /**
   * Replace the volume with a clone of the clean state of `srcVid` in this
   * pool. A source without one (snapshots disabled: it is used in place)
   * gets a clean snapshot for the time of the clone, refused while it runs.
   */
  private async cloneFrom(v: Volume, srcVid: string): Promise<void> {
    const temporary = this.cleanSource(srcVid) === undefined;
    if (temporary) {
      if (this.isRunning(srcVid)) throw new StoragePoolError(`Volume ${srcVid} must be stopped before being cloned.`);
      if (!this.exists(srcVid)) throw new StoragePoolError(`volume ${srcVid} missing`);
      await this.change({ op: 'snapshot', snapshot: `${srcVid}@${CLEAN_PREFIX}-${randomLetters()}` });
    }
    const snapshot = this.cleanSource(srcVid);
    if (snapshot === undefined) throw new StoragePoolError(`No revisions in ${srcVid}`);
    await this.twoPhase(v, async (tmp) => {
      await this.change({ op: 'clone', snapshot, name: tmp, noAutoSnapshot: this.noAutoSnapshot(v) });
      await this.waitForDevice(tmp);
    });
    if (temporary) await this.markClean(srcVid, true);
  }

  /** Replace the volume with a byte copy of a volume of another pool (its export, through dd). */
  private async copyFrom(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    const from = await srcPool.export(src);
    try {
      const size = await srcPool.size(src);
      await this.twoPhase(v, async (tmp) => {
        await this.createVolume(tmp, size, this.noAutoSnapshot(v));
        const argv = ddArgv(from, this.dev(tmp));
        const r = checkRun(await this.ctx.runner.run(argv, { signal: this.ctx.signal }), this.ctx.signal);
        if (r.exitCode !== 0) throw new StoragePoolError(`${argv.join(' ')} failed with error ${r.exitCode}`);
      });
    } finally {
      await srcPool.exportEnd(src, from);
    }
  }

  private abortIfImporting(v: Volume): void {
    if (this.exists(this.importOf(v))) throw new StoragePoolError(`Import operation in progress on ${v.vid}`);
  }

  private queued<T>(v: Volume, work: () => Promise<T>): Promise<T> {
    return this.queue.run(v.vid, async () => {
      await this.loaded();
      return work();
    });
  }

  // ---- pool ----

  /** The vid `<container>/<qube>/<volume>`; snap_on_start with save_on_stop is refused. */
  override initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    const vid = s.vid || `${this.container}/${owner?.name ?? randomLetters()}/${s.name}`;
    if (s.snapOnStart && s.saveOnStop) throw new StoragePoolError(`ZFSVolume ${vid} cannot be snap_on_start && save_on_stop`);
    return super.initVolume({ ...s, vid }, owner);
  }

  /**
   * The zpool must answer; the container is made (not mounted, volumes
   * without partitions in dom0, flagged as a Qubes pool) or, when it
   * exists, flagged.
   * @throws StoragePoolError when zfs or zpool cannot run or the zpool is missing
   */
  async setup(): Promise<void> {
    await this.runZfs(zfsArgv({ op: 'zpool', pool: this.zpool, property: 'size' }));
    let flagged: string | undefined;
    try {
      const out = await this.runZfs(zfsArgv({ op: 'pool-flag', container: this.container }));
      flagged = out.split('\n')[0]?.split('\t')[1];
    } catch (e) {
      if (!(e instanceof ZfsCommandError && e.failure === 'missing')) throw e;
    }
    if (flagged === undefined) await this.change({ op: 'make-container', container: this.container });
    else if (flagged !== 'true') await this.change({ op: 'flag', container: this.container });
  }

  /** The zpool's size and what is not free (zpool list). */
  async space(): Promise<PoolSpace> {
    const read = async (property: 'size' | 'free') => Number((await this.runZfs(zfsArgv({ op: 'zpool', pool: this.zpool, property }))).trim());
    const size = await read('size');
    const usage = size - (await read('free'));
    if (!Number.isFinite(usage)) throw new StoragePoolError(`Cannot read the size of zpool ${this.zpool}`);
    return { size, usage, details: { data_size: size, data_usage: usage } };
  }

  /** The zvols `<container>/<qube>/<volume>` (not the driver's .tmp, .importing, .exported). */
  async listVolumes(): Promise<string[]> {
    const prefix = `${this.container}/`;
    const out: string[] = [];
    for (const [name, e] of await this.loaded()) {
      if (e.type !== 'volume' || !name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length).split('/');
      if (rest.length === 2 && !rest[0]?.startsWith('.')) out.push(name);
    }
    return out;
  }

  // ---- volumes ----

  /** An origin gets an empty zvol, a first revision and a clean snapshot; the others are made at start. */
  protected async doCreate(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      if (!v.saveOnStop) return;
      await this.createEmpty(v);
      await this.createRevision(v, 'after-create');
      await this.markClean(v.vid, v.snapshotsDisabled);
    });
  }

  /** The parent dataset `<container>/<qube>` stays, as in the reference. */
  protected async doRemove(v: Volume): Promise<void> {
    await this.queued(v, () => this.destroyAll(v));
  }

  /**
   * A copy or an import target found with the volume's lock freshly taken
   * was left by a killed command: removed (the reference refuses every
   * later start and import with "Import operation in progress"). Exports
   * are not locked (a backup reads them): only remove() takes them.
   */
  protected override async recoverLeftovers(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      await this.destroyIfExists(this.tmpOf(v));
      await this.destroyIfExists(this.importOf(v));
    });
  }

  protected async doStart(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      this.abortIfImporting(v);
      if (v.isVolatile) {
        await this.createEmpty(v);
      } else if (v.isOrigin) {
        if (!this.dirty(v.vid)) {
          await this.createRevision(v, 'before-start');
          await this.change({ op: 'set', name: v.vid, property: DIRTY, value: 'on' });
        }
      } else if (!this.exists(v.vid) || !this.dirty(v.vid)) {
        if (v.source) await this.cloneFrom(v, v.source);
        else await this.createEmpty(v);
        await this.change({ op: 'set', name: v.vid, property: DIRTY, value: 'on' });
      }
      await this.change({ op: 'set', name: v.vid, property: 'readonly', value: v.rw ? 'off' : 'on' });
    });
  }

  protected async doStop(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      if (v.isVolatile) {
        await this.destroyAll(v);
      } else if (v.isOrigin) {
        if (this.exists(v.vid) && this.dirty(v.vid)) {
          await this.change({ op: 'set', name: v.vid, property: DIRTY, value: 'off' });
          await this.markClean(v.vid, v.snapshotsDisabled);
        }
      } else if (this.snapOnStartForensics) {
        if (this.exists(v.vid)) await this.change({ op: 'set', name: v.vid, property: DIRTY, value: 'off' });
      } else {
        await this.destroyAll(v);
      }
    });
  }

  /** A new zvol `.importing/<vid>` of `size` to write the whole image to. */
  protected async doImportData(v: Volume, size: number): Promise<string> {
    return this.queued(v, async () => {
      if (v.saveOnStop && this.dirty(v.vid)) throw new StoragePoolError(`Cannot import data to dirty volume ${v.vid} - stop the qube using it first`);
      this.abortIfImporting(v);
      await this.createVolume(this.importOf(v), size, this.noAutoSnapshot(v));
      return this.dev(this.importOf(v));
    });
  }

  /** Success: the import target becomes the volume, with a revision and a clean snapshot; else it goes. */
  protected async doImportDataEnd(v: Volume, success: boolean): Promise<void> {
    await this.queued(v, async () => {
      const imp = this.importOf(v);
      if (!success) return this.destroyIfExists(imp);
      if (!this.exists(imp)) throw new StoragePoolError(`No import operation in progress on ${v.vid}`);
      await this.destroyIfExists(v.vid);
      await this.change({ op: 'rename', from: imp, to: v.vid });
      await this.waitForDevice(v.vid);
      await this.createRevision(v, 'after-import-data');
      await this.markClean(v.vid, v.snapshotsDisabled);
    });
  }

  /** The committed data of `src`: a clone within this pool, else a dd copy of its export. */
  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    await this.queued(v, async () => {
      if (!v.saveOnStop) return;
      if (!src.saveOnStop) throw new StoragePoolError(`Cannot import from ${src.vid} — volumes where save_on_stop=False cannot be exported for import`);
      if (this.dirty(v.vid)) throw new StoragePoolError(`Cannot import to dirty volume ${v.vid} — start and stop its owning qube to clean it up`);
      this.abortIfImporting(v);
      if (srcPool instanceof ZfsPool && srcPool.name === this.name) await this.cloneFrom(v, src.vid);
      else await this.copyFrom(v, src, srcPool);
      await this.createRevision(v, 'after-import-volume');
      await this.markClean(v.vid, v.snapshotsDisabled);
    });
  }

  /** The zvol's volsize when it exists (a halted snapshot or volatile volume only changes its nominal size). No shrink check here (the client has it). */
  protected async doResize(v: Volume, size: number): Promise<void> {
    await this.queued(v, async () => {
      if (size === this.sizeIn(v)) return;
      if (this.exists(v.vid)) await this.change({ op: 'set', name: v.vid, property: 'volsize', value: String(size) });
    });
  }

  /** Roll back to a revision (default: the newest), which is then destroyed; a new clean snapshot follows. */
  protected async doRevert(v: Volume, revision?: string): Promise<void> {
    await this.queued(v, async () => {
      if (v.saveOnStop && this.dirty(v.vid)) throw new StoragePoolError(`Cannot revert dirty volume ${v.vid} - stop the qube first`);
      this.abortIfImporting(v);
      const revisions = this.revisionsOf(v.vid);
      if (revisions.length === 0) throw new StoragePoolError(`Cannot revert volume ${v.vid} with no revisions`);
      const snapshot = `${v.vid}@${revision ?? (revisions.at(-1) as Revision).id}`;
      await this.change({ op: 'rollback', snapshot });
      await this.change({ op: 'destroy', name: snapshot });
      await this.markClean(v.vid, v.snapshotsDisabled);
    });
  }

  // ---- reading ----

  /** Origins need their zvol; snapshot and volatile volumes are made at start. */
  async verify(v: Volume): Promise<void> {
    if (!v.isOrigin) return;
    await this.loaded();
    if (!this.exists(v.vid)) throw new StoragePoolError(`volume ${v.vid} missing`);
  }

  /**
   * A clone of the clean state under `.exported/` (the qube may run). A
   * volume with snapshots disabled gets a clean snapshot for the time of
   * the clone, refused while it runs.
   */
  async export(v: Volume): Promise<string> {
    return this.queued(v, async () => {
      if (!v.saveOnStop) throw new StoragePoolError(`Cannot export ${v.vid} — volumes where save_on_stop=False do not feature snapshots to export from`);
      const name = this.exportsOf(v, randomLetters());
      if (v.snapshotsDisabled) {
        if (this.isRunning(v.vid)) throw new StoragePoolError(`Volume ${v.vid} must be stopped before being cloned`);
        await this.change({ op: 'snapshot', snapshot: `${v.vid}@${CLEAN_PREFIX}-${randomLetters()}` });
      }
      const src = this.cleanSource(v.vid);
      if (src === undefined) throw new StoragePoolError(`No revisions in ${v.vid}`);
      await this.change({ op: 'clone', snapshot: src, name, noAutoSnapshot: true });
      await this.waitForDevice(name);
      if (v.snapshotsDisabled) await this.markClean(v.vid, true);
      return this.dev(name);
    });
  }

  override async exportEnd(v: Volume, exported: string): Promise<void> {
    await this.queued(v, () => this.destroyIfExists(this.exportsOf(v, path.basename(exported))));
  }

  async isDirty(v: Volume): Promise<boolean> {
    if (!v.saveOnStop) return false;
    await this.loaded();
    return this.dirty(v.vid);
  }

  /**
   * A running snapshot volume made before its source's newest clean state:
   * the creation time of the source's newest clean snapshot (else the time
   * of its newest revision) is later than this zvol's, to the second.
   */
  async isOutdated(v: Volume): Promise<boolean> {
    if (!v.snapOnStart || !v.source) return false;
    await this.loaded();
    const mine = this.report.get(v.vid);
    if (!mine) return false;
    const clean = this.cleanSnapshots(v.source).at(-1);
    const sourceState = clean ? isoDate(clean.creation * 1000) : this.revisionsOf(v.source).at(-1)?.timestamp;
    return sourceState !== undefined && sourceState > isoDate(mine.creation * 1000);
  }

  async revisions(v: Volume): Promise<Revision[]> {
    await this.loaded();
    return this.exists(v.vid) ? this.revisionsOf(v.vid) : [];
  }

  private sizeIn(v: Volume): number {
    return this.report.get(v.vid)?.volsize ?? v.size;
  }

  /** The zvol's volsize, else the nominal size. */
  async size(v: Volume): Promise<number> {
    await this.loaded();
    return this.sizeIn(v);
  }

  /** The bytes written to the zvol (logicalreferenced), 0 when it does not exist. */
  async usage(v: Volume): Promise<number> {
    await this.refresh();
    return this.report.get(v.vid)?.used ?? 0;
  }

  path(v: Volume): string {
    return this.dev(v.vid);
  }

  blockDevice(v: Volume): BlockDevice {
    return { path: this.dev(v.vid), name: v.name, rw: v.rw, devtype: 'disk' };
  }
}

/** dd of a whole volume, sparse, at idle I/O priority; through sudo only when the files need it. */
function ddArgv(from: string, to: string): string[] {
  const argv = ['ionice', '-c3', '--', 'dd', `if=${from}`, `of=${to}`, 'conv=sparse,nocreat', 'status=progress', 'bs=64M', 'iflag=nocache', 'oflag=nocache,dsync'];
  return sudoUnlessAccessible(argv, from, to);
}
