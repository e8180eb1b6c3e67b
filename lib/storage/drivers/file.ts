// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `file` driver (legacy, still shipped): sparse image files, with a
 * device-mapper copy-on-write layer built over loop devices (file-dm.ts:
 * the steps of the Qubes packages' `create-snapshot`/`destroy-snapshot`,
 * done here with losetup and dmsetup).
 *
 * For P = <dir_path>/<vid> (vid `vm-templates/<vm>/<vol>` for templates,
 * else `appvms/<vm>/<vol>`):
 *   P.img            the data (a snapshot volume has none: it reads its
 *                    source's <source vid>.img)
 *   P-cow.img        dm exception store of the running copy
 *   P-cow.img.old    the previous cow, the only revision ("old")
 *   P-import.img     import target
 *
 *   class      device the qube gets
 *   volatile   P.img (plain file)
 *   origin     /dev/mapper/origin-<D:I of P.img>
 *              (snapshot-origin: writes go to P.img, the old blocks to the cow)
 *   snapshot   /dev/mapper/snapshot-<D:I src img>-<D:I src cow>-<D:I own cow>
 *              (a snapshot of the source's shared snapshot-<D:I img>-<D:I cow>)
 *   origin with snapshots disabled: P.img directly
 * <D:I> is st_dev in lowercase hex, `:`, the inode in decimal.
 *
 * Without device-mapper (no /dev/mapper/control, no dmsetup, a kernel
 * without it or without the snapshot targets) an origin or snapshot volume
 * could never start: adding a file pool and making such a volume (create,
 * clone, restore) are refused then, except in offline mode (a store
 * prepared in an installer's chroot, for the kernel that will run it).
 *
 * A cow is "dirty" when it holds exceptions: the image then has changes of
 * a run that was not committed (file-cow.ts reads that from the file).
 *
 * Reference: qubes-core-admin: qubes/storage/file.py,
 * linux/system-config/create-snapshot, destroy-snapshot; spec storage.md §3.1, §8.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../app/app.js';
import { dirPathPrefix } from '../../vm/qube-dir.js';
import { StoragePoolError } from '../../errors.js';
import { ioReason } from '../../util/io-error.js';
import { asRoot } from '../command-runner.js';
import { checkRun } from '../copy-data.js';
import { counterFor, dataBytes, watched } from '../copy-watch.js';
import { createDir, createSparse, fsyncPath, removeFile, renameFile, replaceFile, tempLeftovers, truncateFile } from '../durable-fs.js';
import { StoragePool, type BlockDevice, type PoolSpace, type StorageContext } from '../pool.js';
import { isoDate, type Revision, type Volume, type VolumeOwner, type VolumeSettings } from '../volume.js';
import { containingPool, readdirOrEmpty, statfsSpace } from '../dir-pool.js';
import { runningMarker } from '../running-marker.js';
import { cowHasChanges } from './file-cow.js';
import { createOrigin, createSnapshot, dmExists, dmRun, removeUnused, requireDeviceMapper } from './file-dm.js';

/** Image files are group-writable, as the reference makes them. */
const IMAGE_MODE = 0o664;

/** One device-mapper change at a time in this process (the reference's module-global lock). */
let dmQueue: Promise<unknown> = Promise.resolve();
function withDmLock<T>(work: () => Promise<T>): Promise<T> {
  const run = dmQueue.then(work, work);
  dmQueue = run.catch(() => undefined);
  return run;
}

/**
 * Volumes exported in this process (by `<dir_path>/<vid>`): such a volume
 * cannot start or stop until the export ends. The reference keeps this per
 * volume object in qubesd, i.e. per process as well.
 */
const exported = new Set<string>();

const exists = (p: string) => fs.existsSync(p);

/** `<st_dev hex>:<inode>` of an image file, as the dm devices are named (the reference's `stat --printf=%D:%i`). */
function devIno(file: string): string {
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(file, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StoragePoolError(`Missing image file: ${file}`);
    throw new StoragePoolError(`Cannot read ${file}: ${ioReason(e)}`);
  }
  if (!st.isFile()) throw new StoragePoolError(`${file} is not a regular file`);
  return `${st.dev.toString(16)}:${st.ino.toString(10)}`;
}

/** Bytes the file occupies on disk (st_blocks * 512), 0 when missing. */
function allocated(file: string): number {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? st.blocks * 512 : 0;
}

/** A new sparse image; an existing file is an error (the reference's create_sparse_file). */
async function createImage(file: string, size: number): Promise<void> {
  if (exists(file)) throw new StoragePoolError(`Volume ${file} already exists`);
  createDir(path.dirname(file));
  await createSparse(file, size, IMAGE_MODE);
}

export class FilePool extends StoragePool {
  readonly driver = 'file' as const;
  readonly dirPath: string;
  /** Vids initialised in this process (listVolumes adds those with an image on disk). */
  private readonly initialised = new Set<string>();

  /** @throws StoragePoolError when revisions_to_keep is above 1 */
  constructor(record: Pool, ctx: StorageContext) {
    super(record, ctx);
    this.dirPath = path.resolve(record.attr('dir_path') as string);
    if (this.revisionsToKeep > 1) throw new StoragePoolError('FilePool supports maximum 1 volume revision to keep');
  }

  // ---- pool -----------------------------------------------------------------

  /** `mkdir` of dir_path (its parent must exist), appvms and vm-templates. */
  async setup(): Promise<void> {
    if (!exists(path.dirname(this.dirPath)))
      throw new StoragePoolError(`Cannot create ${this.dirPath}: ${path.dirname(this.dirPath)} does not exist`);
    for (const d of [this.dirPath, path.join(this.dirPath, 'appvms'), path.join(this.dirPath, 'vm-templates')]) createDir(d);
  }

  /** The filesystem's size and use (statfs f_bsize stands for statvfs f_frsize: equal on Linux filesystems); 0 when the directory is missing. */
  async space(): Promise<PoolSpace> {
    const s = statfsSpace(this.dirPath);
    return s.size === undefined ? { size: 0, usage: 0, details: { data_size: 0, data_usage: 0 } } : s;
  }

  async listVolumes(): Promise<string[]> {
    const vids = new Set(this.initialised);
    for (const top of ['appvms', 'vm-templates'])
      for (const vm of readdirOrEmpty(path.join(this.dirPath, top)))
        for (const f of readdirOrEmpty(path.join(this.dirPath, top, vm))) {
          const m = /^(.+)\.img$/.exec(f);
          if (m && !/-(cow|import)$/.test(m[1] as string)) vids.add(`${top}/${vm}/${m[1]}`);
        }
    return [...vids].sort();
  }

  override includedIn(pools: readonly StoragePool[]): StoragePool | undefined {
    return containingPool(this, this.dirPath, pools);
  }

  /** The vid of a qube's volume in this pool. */
  static vidFor(owner: VolumeOwner, volumeName: string): string {
    return `${dirPathPrefix(owner.klass)}/${owner.name}/${volumeName}`;
  }

  /**
   * snap_on_start with save_on_stop is refused; volumes that are not
   * origins keep no revisions; a volume keeps -1, 0 or 1. An empty vid is
   * made from the owner (vm-templates/ for TemplateVMs, else appvms/).
   */
  override initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    if (s.snapOnStart && s.saveOnStop) throw new StoragePoolError('snap_on_start + save_on_stop not supported by file driver');
    let vid = s.vid;
    if (!vid) {
      if (!owner) throw new StoragePoolError(`Volume ${s.name} has no vid and no owner to make one from`);
      vid = FilePool.vidFor(owner, s.name);
    }
    const revisionsToKeep = s.saveOnStop ? s.revisionsToKeep : 0;
    if (!Number.isInteger(revisionsToKeep) || revisionsToKeep < -1 || revisionsToKeep > 1)
      throw new StoragePoolError('FileVolume supports maximum 1 volume revision to keep');
    this.base(vid);
    const v = super.initVolume({ ...s, vid, revisionsToKeep }, owner);
    this.initialised.add(vid);
    return v;
  }

  // ---- paths and devices ----------------------------------------------------

  /** `<dir_path>/<vid>`; the vid must stay below appvms/ or vm-templates/. */
  private base(vid: string): string {
    const p = path.resolve(this.dirPath, vid);
    const rel = path.relative(this.dirPath, p).split(path.sep);
    if (rel.length < 2 || !['appvms', 'vm-templates'].includes(rel[0] as string))
      throw new StoragePoolError(`Volume id '${vid}' is not under appvms/ or vm-templates/ of pool ${this.name}`);
    return p;
  }
  private img = (vid: string) => `${this.base(vid)}.img`;
  private cow = (vid: string) => `${this.base(vid)}-cow.img`;
  private importPath = (v: Volume) => `${this.base(v.vid)}-import.img`;
  private sourceVid = (v: Volume) => v.source as string;

  /** The image the volume's data lives in: a snapshot reads its source's. */
  path(v: Volume): string {
    return this.img(v.isSnapshot ? this.sourceVid(v) : v.vid);
  }

  /** Whether a dm device stands between the image and the qube. */
  private layered = (v: Volume) => v.isSnapshot || (v.isOrigin && !v.snapshotsDisabled);

  /**
   * The dm device name (without /dev/mapper/) of a layered volume, from
   * the files' device and inode numbers.
   * @throws StoragePoolError when a file it is named after is missing
   */
  private dmName(v: Volume): string {
    if (v.isOrigin) return `origin-${devIno(this.img(v.vid))}`;
    return `${this.sharedName(this.sourceVid(v))}-${devIno(this.cow(v.vid))}`;
  }

  /** The shared snapshot of a volume's image and cow (the state its origin started from). */
  private sharedName(vid: string): string {
    return `snapshot-${devIno(this.img(vid))}-${devIno(this.cow(vid))}`;
  }

  private dmPath = (name: string) => path.join(this.ctx.devDir, 'mapper', name);

  /**
   * The dm device name of a layered volume when it is set up. A snapshot
   * volume's is also found when its source's cow was replaced since it
   * started (the template committed meanwhile): by its image and own cow.
   */
  private activeDevice(v: Volume): string | undefined {
    if (!this.layered(v)) return undefined;
    let name: string;
    try {
      name = this.dmName(v);
    } catch {
      return undefined; // a file it is named after is missing: no device can exist
    }
    if (dmExists(this.ctx, name)) return name;
    if (v.isOrigin) return undefined;
    const [, img, , own] = name.split('-');
    return readdirOrEmpty(path.join(this.ctx.devDir, 'mapper')).find((e) => {
      const parts = e.split('-');
      return parts.length === 4 && parts[0] === 'snapshot' && parts[1] === img && parts[3] === own;
    });
  }

  blockDevice(v: Volume): BlockDevice {
    const p = this.layered(v) ? this.dmPath(this.activeDevice(v) ?? this.dmName(v)) : this.path(v);
    return { path: p, name: v.name, rw: v.rw, devtype: 'disk' };
  }

  /**
   * Refuse when this host cannot build the dm layering (not in offline
   * mode, where the store may be prepared for another kernel).
   */
  override async checkHost(): Promise<void> {
    if (!this.ctx.offline) await requireDeviceMapper(this.ctx, this.name);
  }

  /**
   * Running: the volume's running marker exists (`<runDir>/volume-running-<pool:vid escaped>`,
   * written after a qube's volumes started) or its dm device is set up.
   */
  private isRunning(v: Volume): boolean {
    return exists(runningMarker(this.ctx.runDir, this.name, v.vid)) || this.activeDevice(v) !== undefined;
  }

  private runAsRoot(argv: [string, ...string[]]): Promise<string> {
    return dmRun(this.ctx, argv);
  }

  // ---- volume contract ------------------------------------------------------

  /**
   * A sparse image of the nominal size for every volume but snapshots;
   * refused for a volume that needs device-mapper to start on a host
   * without it.
   */
  protected async doCreate(v: Volume): Promise<void> {
    if (!(v.size > 0)) throw new StoragePoolError(`Volume ${v.vid}: size must be > 0`);
    if (this.layered(v)) await this.checkHost();
    if (!v.isSnapshot) await createImage(this.img(v.vid), v.size);
  }

  /**
   * Stop, then delete the image (not a snapshot's: it is the source's), cow,
   * revision, and leftovers of an interrupted import or copy; then the
   * qube's directory in the pool once it is empty.
   */
  protected async doRemove(v: Volume): Promise<void> {
    this.initialised.delete(v.vid);
    await this.doStop(v);
    if (!v.isSnapshot) removeFile(this.img(v.vid));
    for (const f of [this.cow(v.vid), `${this.cow(v.vid)}.old`]) removeFile(f);
    await this.recoverLeftovers(v);
    try {
      fs.rmdirSync(path.dirname(this.base(v.vid)));
    } catch {
      // not empty (other volumes of the qube, its firewall.xml) or already gone
    }
  }

  /** The import target and temporary copies of the volume's own files (image, cow, old cow, import). */
  protected override async recoverLeftovers(v: Volume): Promise<void> {
    const base = this.base(v.vid);
    const name = path.basename(base);
    const ours = (f: string) => f.startsWith(name) && /^(\.img|-cow\.img|-cow\.img\.old|-import\.img)$/.test(f.slice(name.length));
    for (const f of tempLeftovers(path.dirname(base), ours)) removeFile(f);
    removeFile(this.importPath(v));
  }

  protected async doStart(v: Volume): Promise<void> {
    if (exported.has(this.base(v.vid))) throw new StoragePoolError('file pool cannot start a VM with an exported volume');
    if (v.isVolatile) {
      removeFile(this.img(v.vid));
      await createImage(this.img(v.vid), v.size);
      return;
    }
    const img = this.path(v);
    if (!exists(img)) throw new StoragePoolError(`Missing image file: ${img}`);
    if (v.snapshotsDisabled) return;
    await this.checkHost();
    const size = await this.size(v);
    const cow = this.cow(v.vid);
    // a snapshot always starts afresh, even when no stop followed the last run
    if (v.isSnapshot) removeFile(cow);
    if (!exists(cow)) await createImage(cow, size);
    if (v.isSnapshot && !exists(this.cow(this.sourceVid(v)))) await createImage(this.cow(this.sourceVid(v)), size);
    const name = this.dmName(v);
    await withDmLock(() =>
      v.isOrigin
        ? createOrigin(this.ctx, name, this.sharedName(v.vid), img, cow)
        : createSnapshot(this.ctx, name, this.sharedName(this.sourceVid(v)), img, this.cow(this.sourceVid(v)), cow),
    );
  }

  /**
   * Tear down the dm devices, then: origin commits (the cow becomes the
   * "old" revision, a new empty cow follows), read-only origin and
   * snapshot drop their cow, volatile drops its image.
   */
  protected async doStop(v: Volume): Promise<void> {
    if (exported.has(this.base(v.vid))) throw new StoragePoolError('file pool cannot stop an exported volume');
    if (this.layered(v)) await withDmLock(() => this.tearDown(v));
    if (v.isOrigin) {
      if (v.snapshotsDisabled) return;
      if (v.rw) await this.commit(v);
      else removeFile(this.cow(v.vid));
    } else if (v.isSnapshot) removeFile(this.cow(v.vid));
    else removeFile(this.img(v.vid));
  }

  /**
   * Remove the volume's dm device unless still open, then the shared
   * snapshot under it once unused: an origin's own; a snapshot volume's
   * unless it is the running origin's current one (other qubes started
   * from the template share it).
   */
  private async tearDown(v: Volume): Promise<void> {
    const name = this.activeDevice(v);
    if (name === undefined || !(await removeUnused(this.ctx, name))) return;
    const sharedOf = (vid: string) => {
      try {
        return this.sharedName(vid);
      } catch {
        return undefined; // its cow is gone: no device can be named after it
      }
    };
    if (v.isOrigin) {
      const own = sharedOf(v.vid);
      if (own) await removeUnused(this.ctx, own);
      return;
    }
    const shared = name.split('-').slice(0, 3).join('-');
    const origin = `origin-${name.split('-')[1]}`;
    if (!(dmExists(this.ctx, origin) && shared === sharedOf(this.sourceVid(v)))) await removeUnused(this.ctx, shared);
  }

  /**
   * Rotate the cow: it becomes `-cow.img.old` (revisions_to_keep 1) or is
   * deleted (0), and a new empty sparse cow takes its place. A cow without
   * changes is left alone, so a repeated stop (stop is idempotent, and
   * runs for every halted qube) never replaces the last real revision with
   * an empty one. Without an image there is nothing to commit.
   */
  private async commit(v: Volume): Promise<void> {
    const cow = this.cow(v.vid);
    if (!exists(this.img(v.vid))) return;
    if (exists(cow)) {
      if (!cowHasChanges(cow)) return;
      if (v.revisionsToKeep > 0) renameFile(cow, `${cow}.old`);
      else removeFile(cow);
    }
    await createImage(cow, await this.size(v));
  }

  async verify(v: Volume): Promise<void> {
    if (v.isVolatile) return;
    if (!exists(this.path(v))) throw new StoragePoolError(`Missing image file: ${this.path(v)}.`);
  }

  /** The image, while neither running (marker or dm device) nor dirty. */
  async export(v: Volume): Promise<string> {
    if (this.isRunning(v)) throw new StoragePoolError('file pool cannot export running volumes');
    if (await this.isDirty(v)) throw new StoragePoolError('file pool cannot export dirty volumes');
    exported.add(this.base(v.vid));
    return this.path(v);
  }

  override async exportEnd(v: Volume, _path: string): Promise<void> {
    exported.delete(this.base(v.vid));
  }

  /** A new sparse `-import.img` of `size`; one left from an unfinished import is an error. */
  protected async doImportData(v: Volume, size: number): Promise<string> {
    if (!v.isOrigin) throw new StoragePoolError(`Can not import into save_on_stop=False volume ${v.vid}`);
    if (this.isRunning(v)) throw new StoragePoolError(`file pool cannot import into running volume ${v.vid}`);
    const p = this.importPath(v);
    await createImage(p, size);
    return p;
  }

  protected async doImportDataEnd(v: Volume, success: boolean): Promise<void> {
    const p = this.importPath(v);
    if (!success) return removeFile(p);
    if (!exists(p)) throw new StoragePoolError(`No import operation in progress on ${v.vid}`);
    fsyncPath(p);
    renameFile(p, this.img(v.vid));
  }

  /**
   * Copy the committed data of `src` into an origin volume with
   * `cp --sparse=always --reflink=auto` (into a temporary file renamed over
   * the image, so a failed copy leaves the old data), its bytes counted for
   * the context's watcher; other classes: nothing.
   */
  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    if (src.isSnapshot) throw new StoragePoolError(`Can not import snapshot volume ${src.vid} in to pool ${this.name}`);
    if (!v.isOrigin) return;
    if (this.isRunning(v)) throw new StoragePoolError(`file pool cannot import into running volume ${v.vid}`);
    if (this.layered(v)) await this.checkHost();
    const dst = this.img(v.vid);
    createDir(path.dirname(dst));
    const from = await srcPool.export(src);
    try {
      await replaceFile(
        dst,
        async (tmp) => {
          await watched(counterFor(this.ctx.watchCopy, v.vid), dataBytes(from), () => dataBytes(tmp), async () => {
            const r = checkRun(await this.ctx.runner.run(['cp', '--sparse=always', '--reflink=auto', from, tmp], { signal: this.ctx.signal }), this.ctx.signal);
            if (r.exitCode !== 0) throw new StoragePoolError(`Error while copying '${from}' to '${dst}': ${r.stderr.trim() || `cp exit code ${r.exitCode}`}`);
          });
        },
        IMAGE_MODE,
      );
    } finally {
      await srcPool.exportEnd(src, from);
    }
  }

  /**
   * Set the image's size (growing or shrinking: the client guards shrinks).
   * When a loop device backs the image (the qube runs), tell it the new
   * capacity and, for an origin, reload its snapshot-origin table with the
   * new sector count. A halted volatile volume has no image: its nominal
   * size (recorded by the caller) is used at the next start.
   */
  protected async doResize(v: Volume, size: number): Promise<void> {
    if (!v.rw) throw new StoragePoolError(`Can not resize readonly volume ${v.vid}`);
    if (v.isSnapshot) throw new StoragePoolError('Cannot resize volume based on a template - resizethe template instead');
    const img = this.img(v.vid);
    if (!exists(img)) {
      if (v.isVolatile) return;
      throw new StoragePoolError(`Missing image file: ${img}`);
    }
    truncateFile(img, size);
    const assoc = await this.ctx.runner.run(asRoot(['losetup', '--associated', img]));
    const loop = /^(\/dev\/loop\d+):\s/.exec(assoc.stdout)?.[1];
    if (!loop) return;
    await withDmLock(async () => {
      await this.runAsRoot(['losetup', '--set-capacity', loop]);
      if (this.layered(v)) await this.resizeOrigin(this.dmPath(this.dmName(v)), size);
    });
  }

  /**
   * Load the snapshot-origin table again with the new length. Only the
   * origin target is reloaded: a snapshot target could not be changed
   * without suspending its origin first (kernel dm docs).
   */
  private async resizeOrigin(dev: string, size: number): Promise<void> {
    const table = (await this.runAsRoot(['dmsetup', 'table', dev])).replace(/\n$/, '');
    const parts = table.split(' ');
    if (table.includes('\n') || parts[0] !== '0' || parts[2] !== 'snapshot-origin')
      throw new StoragePoolError(`Unexpected device-mapper table of ${dev}: ${table}`);
    parts[1] = String(Math.floor(size / 512));
    await this.runAsRoot(['dmsetup', 'load', `--table=${parts.join(' ')}`, dev]);
    await this.runAsRoot(['dmsetup', 'resume', dev]);
  }

  /** The file driver keeps the previous cow but cannot merge it back (the reference raises NotImplementedError). */
  protected async doRevert(v: Volume, _revision?: string): Promise<void> {
    throw new StoragePoolError(`Volume ${v.vid}: the file driver cannot revert to a revision`);
  }

  /** An origin whose cow holds changes of a run that was not committed. */
  async isDirty(v: Volume): Promise<boolean> {
    if (!v.isOrigin || v.snapshotsDisabled) return false;
    return cowHasChanges(this.cow(v.vid));
  }

  async isOutdated(_v: Volume): Promise<boolean> {
    return false;
  }

  /** `old`: the previous cow, dated by its ctime (when it was rotated). */
  async revisions(v: Volume): Promise<Revision[]> {
    const st = fs.statSync(`${this.cow(v.vid)}.old`, { throwIfNoEntry: false });
    return st ? [{ id: 'old', timestamp: isoDate(st.ctimeMs) }] : [];
  }

  async size(v: Volume): Promise<number> {
    const st = fs.statSync(this.path(v), { throwIfNoEntry: false });
    return st ? st.size : v.size;
  }

  /** Allocated bytes of the own cow (origin, snapshot) and of the image (origin, volatile). */
  async usage(v: Volume): Promise<number> {
    let used = 0;
    if (!v.isVolatile) used += allocated(this.cow(v.vid));
    if (!v.isSnapshot) used += allocated(this.img(v.vid));
    return used;
  }
}

