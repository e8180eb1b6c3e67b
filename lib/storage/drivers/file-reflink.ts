// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `file-reflink` driver: image files on a filesystem that can clone
 * files (btrfs, XFS), so a snapshot, a start or a commit is a FICLONE
 * reflink that shares every block and costs the same for 1 GiB or 1 TiB.
 * Without reflink support (only with `setup_check=no`) copies are sparse
 * `cp` copies: correct, slow, wasteful.
 *
 * For P = <dir_path>/<vid>:
 *   P.img                 clean: the committed state (a running snapshot
 *                         volume: a hardlink to its source's clean)
 *   P-dirty.img           what the qube writes while running
 *   P-precache.img        a reflink of clean made in advance (same mtime)
 *   P-import.img          import target
 *   P.img.<N>@<time>Z     revision N (N increases; time = when that state
 *                         was committed, the mtime of the archived clean)
 *
 * Every replace goes through a temporary file, fsync and rename, so a crash
 * leaves either the old or the new state: a commit renames dirty over
 * clean in one step; killed before it, the next start finds the dirty
 * image and continues with it (crash recovery).
 *
 * Reference: qubes-core-admin: qubes/storage/reflink.py; spec storage.md §3.2.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../app/app.js';
import { QubesVolumeRevisionNotFoundError, StoragePoolError } from '../../errors.js';
import { ioReason } from '../../util/io-error.js';
import { cloneOrCopy } from '../copy-data.js';
import { counterFor, type StartCounter } from '../copy-watch.js';
import { createDir, createSparse, fsyncPath, hardlink, removeFile, renameFile, replaceFile, tempLeftovers, truncateFile } from '../durable-fs.js';
import { containingPool, readdirOrEmpty, statfsSpace } from '../dir-pool.js';
import { StoragePool, type BlockDevice, type PoolSpace, type StorageContext } from '../pool.js';
import { isoDate, parseQubesBool, type Revision, type Volume } from '../volume.js';

const REVISION_RE = /^\.img\.(\d+)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z$/;

/** Whether files in `dir` can be cloned (creates and removes two small files). */
export function reflinkSupported(dir: string): boolean {
  const a = path.join(dir, `.reflink-check-${process.pid}-a`);
  const b = path.join(dir, `.reflink-check-${process.pid}-b`);
  try {
    fs.writeFileSync(a, 'foo');
    fs.copyFileSync(a, b, fs.constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(a, { force: true });
    fs.rmSync(b, { force: true });
  }
}

const exists = (p: string) => fs.existsSync(p);
const statOrUndefined = (p: string) => fs.statSync(p, { bigint: true, throwIfNoEntry: false });

export class ReflinkPool extends StoragePool {
  readonly driver = 'file-reflink' as const;
  readonly dirPath: string;

  constructor(record: Pool, ctx: StorageContext) {
    super(record, ctx);
    this.dirPath = path.resolve(record.attr('dir_path') as string);
  }

  // ---- pool -----------------------------------------------------------------

  async setup(): Promise<void> {
    const created = !exists(this.dirPath);
    if (created) {
      try {
        fs.mkdirSync(this.dirPath);
      } catch (e) {
        throw new StoragePoolError(`Cannot create ${this.dirPath}: ${ioReason(e)}`);
      }
    }
    const check = parseQubesBool(this.record.attr('setup_check') ?? 'True', 'setup_check');
    if (check && !reflinkSupported(this.dirPath)) {
      if (created) fs.rmdirSync(this.dirPath);
      throw new StoragePoolError(
        `The filesystem for '${this.dirPath}' does not support reflinks. If you can live with delays on VM startup/shutdown/etc. and wasted disk space, pass the 'setup_check=False' option.`,
      );
    }
    for (const d of ['appvms', 'vm-templates']) createDir(path.join(this.dirPath, d));
  }

  async space(): Promise<PoolSpace> {
    return statfsSpace(this.dirPath);
  }

  async listVolumes(): Promise<string[]> {
    const vids: string[] = [];
    for (const top of ['appvms', 'vm-templates'])
      for (const vm of readdirOrEmpty(path.join(this.dirPath, top)))
        for (const f of readdirOrEmpty(path.join(this.dirPath, top, vm))) {
          const m = /^(.+)\.img$/.exec(f);
          if (m && !/-(dirty|precache|import)$/.test(m[1] as string)) vids.push(`${top}/${vm}/${m[1]}`);
        }
    return vids.sort();
  }

  override includedIn(pools: readonly StoragePool[]): StoragePool | undefined {
    return containingPool(this, this.dirPath, pools);
  }

  // ---- paths ----------------------------------------------------------------

  private base(vid: string): string {
    const p = path.resolve(this.dirPath, vid);
    const top = path.relative(this.dirPath, p).split(path.sep)[0];
    if (p === this.dirPath || !['appvms', 'vm-templates'].includes(top ?? ''))
      throw new StoragePoolError(`Volume id '${vid}' is not under appvms/ or vm-templates/ of pool ${this.name}`);
    return p;
  }
  private clean = (v: { vid: string }) => `${this.base(v.vid)}.img`;
  private dirty = (v: Volume) => `${this.base(v.vid)}-dirty.img`;
  private precache = (v: Volume) => `${this.base(v.vid)}-precache.img`;
  private importPath = (v: Volume) => `${this.base(v.vid)}-import.img`;

  /** Revision files, oldest (lowest number) first. */
  private revisionFiles(v: Volume): { n: number; time: string; file: string }[] {
    const base = this.base(v.vid);
    const prefix = path.basename(base);
    const out: { n: number; time: string; file: string }[] = [];
    for (const f of readdirOrEmpty(path.dirname(base))) {
      if (!f.startsWith(prefix)) continue;
      const m = REVISION_RE.exec(f.slice(prefix.length));
      if (m) out.push({ n: Number(m[1]), time: m[2] as string, file: path.join(path.dirname(base), f) });
    }
    return out.sort((a, b) => a.n - b.n);
  }

  // ---- copies ---------------------------------------------------------------

  /**
   * Make `dst` a copy of `src` (a reflink when possible, else a sparse cp)
   * through a temporary file; `size` truncates or grows it, `mtimeOf`
   * gives it that file's mtime; `count` hears a byte copy's progress.
   */
  private async copyFile(src: string, dst: string, opts: { size?: number; mtimeFrom?: number; count?: StartCounter } = {}): Promise<void> {
    await replaceFile(dst, async (tmp) => {
      if (opts.size === 0) fs.writeFileSync(tmp, '');
      else await cloneOrCopy(src, tmp, this.ctx.runner, this.ctx.signal, opts.count);
      if (opts.size !== undefined) fs.truncateSync(tmp, opts.size);
      if (opts.mtimeFrom !== undefined) fs.utimesSync(tmp, opts.mtimeFrom, opts.mtimeFrom);
    });
  }

  /**
   * Give clean and precache one mtime, set from the same number, so their
   * nanosecond mtimes compare equal (a stale precache is told by them).
   */
  private async refreshPrecache(v: Volume): Promise<void> {
    const clean = this.clean(v);
    const t = fs.statSync(clean).mtimeMs / 1000;
    fs.utimesSync(clean, t, t);
    await this.copyFile(clean, this.precache(v), { mtimeFrom: t });
  }

  private precacheFresh(v: Volume): boolean {
    const c = statOrUndefined(this.clean(v));
    const p = statOrUndefined(this.precache(v));
    return Boolean(c && p && c.mtimeNs === p.mtimeNs && c.size === p.size);
  }

  /**
   * Make `from` the committed state: archive clean as a new revision (when
   * revisions are kept), prune, then rename `from` over clean in one step.
   */
  private async commit(v: Volume, from: string): Promise<void> {
    const clean = this.clean(v);
    if (v.revisionsToKeep !== 0 && exists(clean)) await this.archiveClean(v);
    this.prune(v, v.revisionsToKeep);
    fsyncPath(from);
    removeFile(this.precache(v));
    renameFile(from, clean);
    const now = Date.now() / 1000;
    fs.utimesSync(clean, now, now);
    await this.refreshPrecache(v);
  }

  private async archiveClean(v: Volume): Promise<void> {
    const clean = this.clean(v);
    const revs = this.revisionFiles(v);
    const next = (revs.at(-1)?.n ?? 0) + 1;
    const mtime = fs.statSync(clean).mtimeMs;
    await this.copyFile(clean, `${clean}.${next}@${isoDate(mtime)}Z`, { mtimeFrom: mtime / 1000 });
  }

  /** Keep the newest `keep` revisions (0 or -1: none). */
  private prune(v: Volume, keep: number): void {
    const revs = this.revisionFiles(v);
    const drop = keep > 0 ? revs.slice(0, Math.max(0, revs.length - keep)) : revs;
    for (const r of drop) removeFile(r.file);
  }

  /** Temporary copies of any of the volume's files, and the import target: never the volume's state. */
  protected override async recoverLeftovers(v: Volume): Promise<void> {
    const base = this.base(v.vid);
    const name = path.basename(base);
    const ours = (f: string) => f.startsWith(name) && (/^(\.img|-dirty\.img|-precache\.img|-import\.img)$/.test(f.slice(name.length)) || REVISION_RE.test(f.slice(name.length)));
    for (const f of tempLeftovers(path.dirname(base), ours)) removeFile(f);
    removeFile(this.importPath(v));
  }

  // ---- volume contract --------------------------------------------------------

  protected async doCreate(v: Volume): Promise<void> {
    await this.removeImages(v);
    if (!v.isOrigin) return;
    createDir(path.dirname(this.clean(v)));
    await createSparse(this.clean(v), v.size);
    await this.refreshPrecache(v);
  }

  protected async doRemove(v: Volume): Promise<void> {
    await this.removeImages(v);
    try {
      fs.rmdirSync(path.dirname(this.clean(v)));
    } catch {
      // not empty (other volumes of the qube) or already gone
    }
  }

  private async removeImages(v: Volume): Promise<void> {
    await this.recoverLeftovers(v);
    this.prune(v, 0);
    for (const f of [this.clean(v), this.precache(v), this.dirty(v)]) removeFile(f);
  }

  protected async doStart(v: Volume): Promise<void> {
    const dirty = this.dirty(v);
    if (v.snapshotsDisabled) {
      this.prune(v, 0);
      removeFile(this.precache(v));
      if (!exists(dirty)) renameFile(this.clean(v), dirty);
      return;
    }
    if (await this.isDirty(v)) return; // a crashed run: continue with its data
    createDir(path.dirname(dirty));
    if (v.isSnapshot) {
      const own = this.clean(v);
      removeFile(own);
      hardlink(this.clean({ vid: v.source as string }), own);
      await this.copyFile(own, dirty);
    } else if (v.isOrigin) {
      if (exists(this.precache(v)) && !this.precacheFresh(v)) removeFile(this.precache(v));
      if (exists(this.precache(v))) renameFile(this.precache(v), dirty);
      else await this.copyFile(this.clean(v), dirty);
    } else {
      await createSparse(dirty, v.size);
    }
  }

  protected async doStop(v: Volume): Promise<void> {
    const dirty = this.dirty(v);
    if (v.isOrigin) {
      if (!exists(dirty)) return;
      if (v.snapshotsDisabled) renameFile(dirty, this.clean(v));
      else await this.commit(v, dirty);
      return;
    }
    removeFile(dirty);
    removeFile(this.clean(v));
  }

  async verify(v: Volume): Promise<void> {
    let needed: string | undefined;
    if (v.isSnapshot) needed = this.clean({ vid: v.source as string });
    else if (v.isOrigin) needed = v.snapshotsDisabled && exists(this.dirty(v)) ? this.dirty(v) : this.clean(v);
    if (needed && !exists(needed)) throw new StoragePoolError(`Missing image file '${needed}' for volume ${v.vid}`);
  }

  async export(v: Volume): Promise<string> {
    if (!v.isOrigin) throw new StoragePoolError(`Cannot export: ${v.vid} is not save_on_stop`);
    return this.clean(v);
  }

  protected async doImportData(v: Volume, size: number): Promise<string> {
    if (!v.isOrigin) throw new StoragePoolError(`Cannot import data: ${v.vid} is not save_on_stop`);
    const p = this.importPath(v);
    createDir(path.dirname(p));
    await createSparse(p, size);
    return p;
  }

  protected async doImportDataEnd(v: Volume, success: boolean): Promise<void> {
    const p = this.importPath(v);
    if (success) await this.commit(v, p);
    else removeFile(p);
  }

  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    if (!v.isOrigin) return;
    const p = this.importPath(v);
    createDir(path.dirname(p));
    const from = await srcPool.export(src);
    try {
      await this.copyFile(from, p, { count: counterFor(this.ctx.watchCopy, v.vid) });
    } catch (e) {
      removeFile(p);
      throw e;
    } finally {
      await srcPool.exportEnd(src, from);
    }
    await this.commit(v, p);
  }

  protected async doResize(v: Volume, size: number): Promise<void> {
    if (!v.rw) throw new StoragePoolError(`Cannot resize: ${v.vid} is read-only`);
    const dirty = this.dirty(v);
    if (exists(dirty)) {
      truncateFile(dirty, size);
      await this.updateLoopCapacity(dirty);
    } else if (v.isOrigin) {
      // clean is never changed in place: an export may be reading it
      await this.copyFile(this.clean(v), this.clean(v), { size });
      await this.refreshPrecache(v);
    }
  }

  /** Tell loop devices backed by `file` about its new size (the qube sees the resize). */
  private async updateLoopCapacity(file: string): Promise<void> {
    const real = fs.realpathSync(file);
    for (const loop of readdirOrEmpty('/sys/block').filter((d) => d.startsWith('loop'))) {
      let backing: string;
      try {
        backing = fs.readFileSync(`/sys/block/${loop}/loop/backing_file`, 'utf8').trim();
      } catch {
        continue;
      }
      if (backing !== real) continue;
      const r = await this.ctx.runner.run(['losetup', '--set-capacity', `/dev/${loop}`]);
      if (r.exitCode !== 0) throw new StoragePoolError(`Cannot update the size of /dev/${loop}: ${r.stderr.trim()}`);
    }
  }

  protected async doRevert(v: Volume, revision?: string): Promise<void> {
    if (await this.isDirty(v)) throw new StoragePoolError(`Cannot revert: ${v.vid} is not cleanly stopped`);
    const revs = this.revisionFiles(v);
    const chosen = revision === undefined ? revs.at(-1) : revs.find((r) => String(r.n) === revision);
    if (!chosen) throw new QubesVolumeRevisionNotFoundError(revision === undefined ? `No revisions of ${v.vid} to revert to` : `Revision ${revision} of ${v.vid} not found`);
    // the replaced state becomes the newest revision: a revert can be undone
    if (exists(this.clean(v))) await this.archiveClean(v);
    removeFile(this.precache(v));
    renameFile(chosen.file, this.clean(v));
    await this.refreshPrecache(v);
  }

  async isDirty(v: Volume): Promise<boolean> {
    return v.isOrigin && exists(this.dirty(v));
  }

  async isOutdated(v: Volume): Promise<boolean> {
    if (!v.isSnapshot) return false;
    const own = statOrUndefined(this.clean(v));
    const src = statOrUndefined(this.clean({ vid: v.source as string }));
    if (!own || !src) return false;
    return own.ino !== src.ino || own.dev !== src.dev;
  }

  async revisions(v: Volume): Promise<Revision[]> {
    return this.revisionFiles(v).map((r) => ({ id: String(r.n), timestamp: r.time }));
  }

  async size(v: Volume): Promise<number> {
    const s = statOrUndefined(this.dirty(v)) ?? statOrUndefined(this.clean(v));
    return s ? Number(s.size) : v.size;
  }

  async usage(v: Volume): Promise<number> {
    const s = statOrUndefined(this.dirty(v)) ?? statOrUndefined(this.clean(v));
    return s ? Number(s.blocks) * 512 : 0;
  }

  path(v: Volume): string {
    return this.dirty(v);
  }

  blockDevice(v: Volume): BlockDevice {
    return { path: this.dirty(v), name: v.name, rw: v.rw, devtype: 'disk' };
  }
}
