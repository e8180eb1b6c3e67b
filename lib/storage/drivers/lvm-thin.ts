// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `lvm_thin` driver: volumes are thin LVs of one LVM thin pool
 * `<volume_group>/<thin_pool>`. A volume of vid `<VG>/vm-<qube>-<volume>`
 * owns these LVs:
 *
 *   <vid>                    committed state (or the volatile data)
 *   <vid>-snap               running copy (origin and snapshot volumes)
 *   <vid>-import             import target
 *   <vid>-<seconds>-back     revision: a state superseded at that time
 *
 * Everything is done by running `lvm` (through sudo when not root; the
 * command lines and the reading of the `lvs` report are lvm-commands.ts)
 * and read back from one `lvs` JSON report, cached per runner and re-read
 * after every change. Existence checks look at the device nodes `<devDir>/VG/LV`
 * (as the reference looks at /dev), which exist for active LVs only.
 *
 * Reference: qubes-core-admin: qubes/storage/lvm.py; spec storage.md §3.3.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../app/app.js';
import { StoragePoolError } from '../../errors.js';
import { asRoot, changeThenReload, sudoUnlessAccessible, type CommandRunner } from '../command-runner.js';
import { checkRun } from '../copy-data.js';
import { StoragePool, type BlockDevice, type PoolSpace, type StorageContext } from '../pool.js';
import { isoDate, type Revision, type Volume, type VolumeOwner, type VolumeSettings } from '../volume.js';
import { VolumeQueue } from '../volume-queue.js';
import { LVM_ENV, lvmArgv, mapperName, meaningfulStderr, parseLvsReport, type LvmChange, type LvsReport } from './lvm-commands.js';
const { randomBytes } = crypto;

/** Usage figures older than this are re-read (qubes-issues#4888). */
export const USAGE_MAX_AGE_MS = 30_000;

/** The LV name within its VG (`VG/LV` → `LV`). */
function lvNameOf(vid: string): string {
  const slash = vid.indexOf('/');
  if (slash <= 0 || slash === vid.length - 1) throw new StoragePoolError(`Invalid LVM volume id '${vid}' (expected VG/LV)`);
  return vid.slice(slash + 1);
}

const snapOf = (v: Volume): string => `${v.vid}-snap`;
const importOf = (v: Volume): string => `${v.vid}-import`;

/** A revision LV's id and the time it was superseded. */
interface RevisionLv {
  id: string;
  seconds: number;
}

/**
 * The `lvs` report shared by all pools that use one runner (one `lvs` covers
 * every VG, as the reference's module-wide cache). `seq` keeps a slow,
 * older reload from overwriting a newer one.
 */
interface ReportCache {
  report: LvsReport;
  loaded: boolean;
  loadedAt: number;
  started: number;
  stored: number;
}

const reportCaches = new WeakMap<CommandRunner, ReportCache>();

/** Ignore a failed LVM command (the reference's `except StoragePoolException: pass`). */
async function tolerated(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (e) {
    if (!(e instanceof StoragePoolError)) throw e;
  }
}

export class ThinPool extends StoragePool {
  readonly driver = 'lvm_thin' as const;
  readonly volumeGroup: string;
  readonly thinPool: string;
  /** stderr of lvm runs that succeeded (the reference logs them as warnings), oldest first. */
  readonly warnings: string[] = [];
  /** Operations on one volume never overlap (the reference's volume lock). */
  private readonly queue = new VolumeQueue();

  constructor(record: Pool, ctx: StorageContext) {
    super(record, ctx);
    this.volumeGroup = record.attr('volume_group') as string;
    this.thinPool = record.attr('thin_pool') as string;
  }

  /** `<VG>/<thin pool>`. */
  get poolId(): string {
    return `${this.volumeGroup}/${this.thinPool}`;
  }

  // ---- the lvs report ----

  private get cache(): ReportCache {
    let c = reportCaches.get(this.ctx.runner);
    if (!c) {
      c = { report: new Map(), loaded: false, loadedAt: 0, started: 0, stored: 0 };
      reportCaches.set(this.ctx.runner, c);
    }
    return c;
  }

  /** What the last `lvs` said (empty before the first load). */
  private get report(): LvsReport {
    return this.cache.report;
  }

  /** Run `lvs` and replace the cached report. */
  async refresh(): Promise<void> {
    const c = this.cache;
    const seq = ++c.started;
    const report = parseLvsReport(await this.runLvm(lvmArgv({ op: 'report' })));
    if (seq > c.stored) Object.assign(c, { report, loaded: true, loadedAt: this.ctx.now(), stored: seq });
  }

  private async loaded(): Promise<LvsReport> {
    if (!this.cache.loaded) await this.refresh();
    return this.report;
  }

  /** The report, re-read when older than USAGE_MAX_AGE_MS (usage figures change without us). */
  private async fresh(): Promise<LvsReport> {
    const c = this.cache;
    if (!c.loaded || this.ctx.now() - c.loadedAt > USAGE_MAX_AGE_MS) await this.refresh();
    return this.report;
  }

  // ---- running lvm ----

  /**
   * Run an lvm argv; success with something on stderr is kept in `warnings`.
   * @returns stdout
   * @throws StoragePoolError with lvm's stderr on a non-zero exit
   */
  private async runLvm(argv: string[]): Promise<string> {
    const r = await this.ctx.runner.run(argv, { env: LVM_ENV });
    const err = meaningfulStderr(r.stderr);
    if (r.exitCode !== 0) throw new StoragePoolError(err.trim() || `${argv.join(' ')}: exit code ${r.exitCode}`);
    if (err.trim()) this.warnings.push(err);
    return r.stdout;
  }

  /** Change something in LVM, then re-read the report (also after a failure: part of it may have happened). */
  private change(argv: string[]): Promise<void> {
    return changeThenReload(
      () => this.runLvm(argv),
      () => this.refresh(),
    );
  }

  private lvm(a: LvmChange): Promise<void> {
    return this.change(lvmArgv(a));
  }

  /** `<devDir>/VG/LV`, the device node of an active LV. */
  private dev(lv: string): string {
    return path.join(this.ctx.devDir, lv);
  }

  private devExists(lv: string): boolean {
    return fs.existsSync(this.dev(lv));
  }

  /**
   * Remove an LV if its device node exists, discarding its blocks first
   * (lvremove does not pass discards down; qubes-issues#5077).
   * @returns whether anything was removed
   */
  private async removeLv(lv: string): Promise<boolean> {
    const argv = lvmArgv({ op: 'remove', lv });
    if (!this.devExists(lv)) return false;
    await this.ctx.runner.run(asRoot(['blkdiscard', '-p', '1G', this.dev(lv)]), { env: LVM_ENV });
    await this.change(argv);
    return true;
  }

  private queued<T>(v: Volume, work: () => Promise<T>): Promise<T> {
    return this.queue.run(v.vid, work);
  }

  // ---- naming ----

  /**
   * Revisions of a vid, oldest first: LVs `<vid>-<seconds>-back`. A suffix
   * with a further `-` belongs to another qube whose name extends this one
   * (`work` vs `work-private`, qubes-issues#4680).
   */
  private revisionLvs(vid: string): RevisionLv[] {
    const prefix = `${vid}-`;
    const out: RevisionLv[] = [];
    for (const lv of this.report.keys()) {
      if (!lv.startsWith(prefix)) continue;
      const m = /^(\d+)-back$/.exec(lv.slice(prefix.length));
      if (m) out.push({ id: lv.slice(prefix.length), seconds: Number(m[1]) });
    }
    return out.sort((a, b) => a.seconds - b.seconds);
  }

  /**
   * The LV with the committed state: `<vid>`, or after a commit interrupted
   * between its two renames the newest revision, else `<vid>`.
   */
  private currentOf(vid: string): string {
    if (this.report.has(vid)) return vid;
    const newest = this.revisionLvs(vid).at(-1);
    return newest ? `${vid}-${newest.id}` : vid;
  }

  /** The LV a start copies: the source's committed state, or the volume's own. */
  private startSource(v: Volume): string {
    return this.currentOf(v.source ?? v.vid);
  }

  private dirtyIn(v: Volume): boolean {
    return v.saveOnStop && this.report.has(snapOf(v));
  }

  private abortIfImporting(v: Volume): void {
    if (v.saveOnStop && this.devExists(importOf(v))) throw new StoragePoolError(`Import operation in progress on ${v.vid}`);
  }

  // ---- pool ----

  override initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    const vid = s.vid || `${this.volumeGroup}/vm-${owner?.name ?? randomBytes(8).toString('hex')}-${s.name}`;
    return super.initVolume({ ...s, vid }, owner);
  }

  /**
   * Check that the thin pool is there; creates nothing.
   * @throws StoragePoolError when it is missing or not a thin pool
   */
  async setup(): Promise<void> {
    await this.refresh();
    const entry = this.report.get(this.poolId);
    if (!entry) throw new StoragePoolError(`Thin pool ${this.poolId} does not exist`);
    if (entry.attr[0] !== 't') throw new StoragePoolError(`Volume ${this.poolId} is not a thin pool`);
  }

  async space(): Promise<PoolSpace> {
    const entry = (await this.fresh()).get(this.poolId);
    const size = entry?.size ?? 0;
    const usage = entry?.usage ?? 0;
    return {
      size,
      usage,
      details: { data_size: size, data_usage: usage, metadata_size: entry?.metadataSize ?? 0, metadata_usage: entry?.metadataUsage ?? 0 },
    };
  }

  /** Committed volumes of this thin pool: its LVs in this VG except running copies, import targets and revisions. */
  async listVolumes(): Promise<string[]> {
    const out: string[] = [];
    for (const [lv, info] of await this.loaded()) {
      if (!lv.startsWith(`${this.volumeGroup}/`) || info.poolLv !== this.thinPool) continue;
      if (/-(snap|import|back)$/.test(lv)) continue;
      out.push(lv);
    }
    return out;
  }

  // ---- volumes ----

  /** Origin volumes get an empty thin LV of their size; the others have nothing until started. */
  protected async doCreate(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      if (!v.isOrigin) return;
      if (!(v.size > 0)) throw new StoragePoolError(`Cannot create volume ${v.vid} of size ${v.size}`);
      await this.lvm({ op: 'create', pool: this.poolId, name: lvNameOf(v.vid), size: v.size });
    });
  }

  /**
   * An `-import` LV found with the volume's lock freshly taken was left by
   * a killed import: removed (the reference refuses every later start and
   * import with "Import operation in progress" until someone removes it).
   */
  protected override async recoverLeftovers(v: Volume): Promise<void> {
    if (v.saveOnStop) await this.queued(v, () => this.removeLv(importOf(v)));
  }

  /** Running copy, import target, every revision, then the committed LV. */
  protected async doRemove(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      await this.loaded();
      if (!v.isVolatile) await this.removeLv(snapOf(v));
      if (v.saveOnStop) await this.removeLv(importOf(v));
      for (const r of this.revisionLvs(v.vid)) {
        const lv = `${v.vid}-${r.id}`;
        // After an interrupted commit the newest revision is the only copy: it goes last, as the current LV.
        if (lv !== this.currentOf(v.vid)) await tolerated(this.removeLv(lv));
      }
      await this.removeLv(this.currentOf(v.vid));
    });
  }

  /**
   * Volatile: a fresh empty LV. Snapshot and clean origin: a new `-snap`
   * clone of the committed state. Origin left dirty by a crash: keep its
   * `-snap` (the qube continues with it). Origin with snapshots disabled:
   * drop its revisions, nothing else (it is attached directly).
   */
  protected async doStart(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      this.abortIfImporting(v);
      const report = await this.loaded();
      if (v.isVolatile) {
        await tolerated(this.removeLv(this.currentOf(v.vid)));
        await this.lvm({ op: 'create', pool: this.poolId, name: lvNameOf(v.vid), size: v.size });
        return;
      }
      if (this.dirtyIn(v)) {
        // LVM may not have activated everything yet at boot (core-admin@6dffbf93).
        const current = this.currentOf(v.vid);
        const state = report.get(current)?.attr[4];
        if (state !== undefined && state !== 'a') await this.lvm({ op: 'activate', lv: current });
        return;
      }
      if (v.snapshotsDisabled) {
        for (const r of this.revisionLvs(v.vid)) await tolerated(this.removeLv(`${v.vid}-${r.id}`));
        return;
      }
      await tolerated(this.removeLv(snapOf(v)));
      await this.lvm({ op: 'clone', src: this.startSource(v), dst: snapOf(v) });
    });
  }

  /** Origin: commit the running copy. Snapshot, volatile: drop the running data. Idempotent. */
  protected async doStop(v: Volume): Promise<void> {
    await this.queued(v, async () => {
      await this.loaded();
      if (v.isOrigin) {
        if (!v.snapshotsDisabled) await this.commit(v, snapOf(v), 'rename');
      } else if (v.snapOnStart) {
        await this.removeLv(snapOf(v));
      } else {
        await this.removeLv(v.vid);
      }
    });
  }

  /**
   * Make `from` the committed state: the old one becomes revision
   * `<vid>-<now>-back` first, so an interruption never loses data
   * (qubes-issues#2256); `clone` keeps `from` (import from the same thin
   * pool). Then prune revisions to revisions_to_keep.
   * @returns false when `from` does not exist (nothing to commit)
   */
  private async commit(v: Volume, from: string, how: 'rename' | 'clone'): Promise<boolean> {
    if (!v.saveOnStop) throw new StoragePoolError(`Trying to commit ${v.vid}, but it has save_on_stop == False`);
    if (!v.rw) throw new StoragePoolError(`Trying to commit ${v.vid}, but it has rw == False`);
    if (!this.devExists(from)) return false;
    await this.loaded();
    if (this.currentOf(v.vid) === v.vid)
      await this.lvm({ op: 'rename', from: v.vid, to: `${v.vid}-${Math.floor(this.ctx.now() / 1000)}-back` });
    await this.lvm(how === 'clone' ? { op: 'clone', src: from, dst: v.vid } : { op: 'rename', from, to: v.vid });
    // Pruning must never take the only copy: go on only if the new state is seen in place (qubes-issues#3164).
    if (!this.report.has(v.vid)) throw new StoragePoolError(`Committing ${from} did not produce ${v.vid}; revisions kept`);
    await this.prune(v);
    return true;
  }

  /** Remove all but the newest revisions_to_keep revisions (0, and -1 = snapshots disabled: all). */
  private async prune(v: Volume): Promise<void> {
    const keep = Math.max(0, v.revisionsToKeep);
    const revisions = this.revisionLvs(v.vid);
    for (const r of revisions.slice(0, Math.max(0, revisions.length - keep))) await tolerated(this.removeLv(`${v.vid}-${r.id}`));
  }

  /** @throws StoragePoolError when the LV a start needs is not in LVM */
  async verify(v: Volume): Promise<void> {
    if (v.isVolatile) return;
    await this.loaded();
    const needed = this.startSource(v);
    if (!this.report.has(needed)) throw new StoragePoolError(`volume ${needed} missing`);
  }

  /**
   * The committed LV (its state before the qube started), activated so its
   * node exists. lvm is given the LV's /dev path as LVM itself knows it;
   * devDir is only where this driver looks for and hands out device nodes.
   */
  async export(v: Volume): Promise<string> {
    await this.loaded();
    await this.lvm({ op: 'activate', lv: `/dev/${this.currentOf(v.vid)}` });
    return this.path(v);
  }

  /** A new `-import` LV of `size` to write the whole image to; importDataEnd commits or drops it. */
  protected async doImportData(v: Volume, size: number): Promise<string> {
    return this.queued(v, async () => {
      if (!v.saveOnStop) throw new StoragePoolError(`Can not import into save_on_stop=False volume ${v.vid}`);
      await this.loaded();
      if (this.dirtyIn(v)) throw new StoragePoolError(`Cannot import data to dirty volume ${v.vid}, stop the qube first`);
      this.abortIfImporting(v);
      await this.lvm({ op: 'create', pool: this.poolId, name: lvNameOf(importOf(v)), size });
      return this.dev(importOf(v));
    });
  }

  protected async doImportDataEnd(v: Volume, success: boolean): Promise<void> {
    await this.queued(v, async () => {
      if (!this.devExists(importOf(v))) throw new StoragePoolError(`No import operation in progress on ${v.vid}`);
      if (success) await this.commit(v, importOf(v), 'rename');
      else await this.removeLv(importOf(v));
    });
  }

  /**
   * Copy the committed data of `src`: within the same thin pool by a thin
   * clone, else with dd into `-import` and a commit of that.
   */
  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    await this.queued(v, async () => {
      if (!src.saveOnStop) return;
      await this.loaded();
      if (this.dirtyIn(v)) throw new StoragePoolError(`Cannot import to dirty volume ${v.vid} - start and stop a qube to cleanup`);
      this.abortIfImporting(v);
      // The reference compares only the thin pool's name, not the VG.
      if (srcPool instanceof ThinPool && srcPool.thinPool === this.thinPool) {
        await this.commit(v, srcPool.currentOf(src.vid), 'clone');
        return;
      }
      const target = importOf(v);
      await this.lvm({ op: 'create', pool: this.poolId, name: lvNameOf(target), size: await srcPool.size(src) });
      const srcPath = await srcPool.export(src);
      let exitCode: number;
      try {
        exitCode = checkRun(await this.ctx.runner.run(this.ddArgv(srcPath, this.dev(target)), { signal: this.ctx.signal }), this.ctx.signal).exitCode;
      } catch (e) {
        await this.removeLv(target);
        throw e;
      } finally {
        await srcPool.exportEnd(src, srcPath);
      }
      if (exitCode !== 0) {
        await this.removeLv(target);
        throw new StoragePoolError(`Failed to import volume '${srcPool.name}:${src.vid}', dd exit code: ${exitCode}`);
      }
      await this.commit(v, target, 'rename');
    });
  }

  /** dd through sudo only when the files need it; fsync and nocreat for durability (qubes-issues#7870). */
  private ddArgv(from: string, to: string): string[] {
    return sudoUnlessAccessible(['dd', `if=${from}`, `of=${to}`, 'conv=sparse,nocreat,fsync', 'status=none', 'bs=128K'], from, to);
  }

  /**
   * Resize the LV the qube uses now: the running copy (dirty origin,
   * snapshot volumes), else an import in progress, else the committed LV of
   * an origin. Volatile volumes only change their nominal size (the caller
   * records it). No shrink check here (the client has it).
   */
  protected async doResize(v: Volume, size: number): Promise<void> {
    await this.queued(v, async () => {
      if (!v.rw) throw new StoragePoolError(`Can not resize readonly volume ${v.vid}`);
      await this.loaded();
      if (size === this.sizeIn(v)) return;
      if (this.dirtyIn(v) || v.snapOnStart) await this.lvm({ op: 'resize', lv: snapOf(v), size });
      else if (v.saveOnStop && this.devExists(importOf(v))) await this.lvm({ op: 'resize', lv: importOf(v), size });
      else if (v.isOrigin) await this.lvm({ op: 'resize', lv: this.currentOf(v.vid), size });
    });
  }

  /**
   * Clone a revision (default: the newest) over the committed LV. The
   * revision stays; the replaced state is discarded.
   */
  protected async doRevert(v: Volume, revision?: string): Promise<void> {
    await this.queued(v, async () => {
      await this.loaded();
      if (this.dirtyIn(v)) throw new StoragePoolError(`Cannot revert dirty volume ${v.vid}, stop the qube first`);
      this.abortIfImporting(v);
      const id = revision ?? this.revisionLvs(v.vid).at(-1)?.id;
      if (id === undefined) throw new StoragePoolError(`Volume ${v.vid} has no revisions`);
      const lv = `${v.vid}-${id}`;
      if (!this.devExists(lv)) throw new StoragePoolError(`Volume ${v.vid} has no ${this.dev(lv)}`);
      if (this.report.has(v.vid)) await this.removeLv(v.vid);
      await this.lvm({ op: 'clone', src: lv, dst: v.vid });
    });
  }

  async isDirty(v: Volume): Promise<boolean> {
    await this.loaded();
    return this.dirtyIn(v);
  }

  /** A running snapshot whose source has committed since: its `-snap` no longer has the source's current LV as origin. */
  async isOutdated(v: Volume): Promise<boolean> {
    if (!v.snapOnStart || !v.source) return false;
    const snap = (await this.loaded()).get(snapOf(v));
    if (!snap) return false;
    return snap.origin !== lvNameOf(this.currentOf(v.source));
  }

  async revisions(v: Volume): Promise<Revision[]> {
    await this.loaded();
    return this.revisionLvs(v.vid).map((r) => ({ id: r.id, timestamp: isoDate(r.seconds * 1000) }));
  }

  /** Size of the running copy while there is one, else of the committed LV, else nominal (LVM rounds to extents). */
  private sizeIn(v: Volume): number {
    if (!v.isVolatile && this.devExists(snapOf(v))) return this.report.get(snapOf(v))?.size ?? v.size;
    return this.report.get(this.currentOf(v.vid))?.size ?? v.size;
  }

  async size(v: Volume): Promise<number> {
    await this.loaded();
    return this.sizeIn(v);
  }

  /** Allocated bytes of the committed LV (the running copy is not counted). */
  async usage(v: Volume): Promise<number> {
    return (await this.fresh()).get(this.currentOf(v.vid))?.usage ?? 0;
  }

  /**
   * `<devDir>/<committed LV>`. Uses the last report: before any load (no
   * operation ran yet) it cannot see an interrupted commit and names `<vid>`.
   */
  path(v: Volume): string {
    return this.dev(this.currentOf(v.vid));
  }

  /** The running copy (or, snapshots disabled, the committed LV itself; volatile: its LV) by its device-mapper node. */
  blockDevice(v: Volume): BlockDevice {
    const lv = v.isVolatile ? this.currentOf(v.vid) : v.snapshotsDisabled ? v.vid : snapOf(v);
    return { path: this.mapperPath(lv), name: v.name, rw: v.rw, devtype: 'disk' };
  }

  /** The dm-crypt mapping of an ephemeral volatile volume (overrides the generic `vm-volatile-…` name). */
  override encryptedVolumePath(v: Volume): string {
    return `${this.mapperPath(this.currentOf(v.vid))}@crypt`;
  }

  private mapperPath(lv: string): string {
    return path.join(this.ctx.devDir, 'mapper', mapperName(lv));
  }
}
