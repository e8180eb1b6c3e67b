// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `linux-kernel` driver: read-only kernel directories
 * `<dir_path>/<version>/` with `vmlinuz`, `initramfs` and optionally
 * `modules.img` (the qube's xvdd). Nothing is ever written; the vid is the
 * qube's `kernel` property (empty: the qube boots its own kernel).
 *
 * Reference: qubes-core-admin: qubes/storage/kernels.py; spec storage.md §3.4.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StoragePoolError } from '../../errors.js';
import { containingPool } from '../dir-pool.js';
import { StoragePool, type BlockDevice, type PoolSpace } from '../pool.js';
import { Volume, type Revision, type VolumeOwner, type VolumeSettings } from '../volume.js';

const noKernel = (vid: string) => vid === '' || vid === 'None';

export class LinuxKernelPool extends StoragePool {
  readonly driver = 'linux-kernel' as const;

  private get dirPath(): string {
    return path.resolve(this.record.attr('dir_path') as string);
  }

  override get revisionsToKeep(): number {
    return 0;
  }

  override get ephemeralVolatile(): boolean {
    return false;
  }

  async setup(): Promise<void> {
    fs.mkdirSync(this.dirPath, { recursive: true });
  }

  async space(): Promise<PoolSpace> {
    return { details: {} };
  }

  async listVolumes(): Promise<string[]> {
    try {
      return fs.readdirSync(this.dirPath).sort();
    } catch {
      return [];
    }
  }

  /** Kernel volumes are read-only, discarded, never saved; a legacy snap_on_start without source is dropped. */
  override initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    if (s.rw) throw new StoragePoolError(`Kernel volume ${s.name} of pool ${this.name} cannot be writable`);
    if (s.saveOnStop) throw new StoragePoolError(`Kernel volume ${s.name} of pool ${this.name} cannot be save_on_stop`);
    if (s.revisionsToKeep !== 0) throw new StoragePoolError('LinuxKernel supports only revisions_to_keep=0');
    if (s.ephemeral) throw new StoragePoolError('LinuxKernel volume cannot be ephemeral');
    const snapOnStart = s.snapOnStart && Boolean(s.source);
    return new Volume({ ...s, snapOnStart }, owner, false);
  }

  private dir(v: Volume): string {
    const d = path.resolve(this.dirPath, v.vid);
    if (path.dirname(d) !== this.dirPath) throw new StoragePoolError(`Kernel version '${v.vid}' is not a directory name`);
    return d;
  }

  protected override readonly changesData = false;

  protected async doCreate(): Promise<void> {}
  protected async doRemove(): Promise<void> {}
  protected async doStart(): Promise<void> {}
  protected async doStop(): Promise<void> {}

  async verify(v: Volume): Promise<void> {
    if (noKernel(v.vid)) return;
    const vmlinuz = path.join(this.dir(v), 'vmlinuz');
    if (!fs.existsSync(vmlinuz)) throw new StoragePoolError(`Missing file: ${vmlinuz}`);
  }

  async export(v: Volume): Promise<string> {
    return this.path(v);
  }

  protected async doImportData(v: Volume): Promise<string> {
    throw new StoragePoolError(`Cannot import data into kernel volume ${v.vid}: it is read-only`);
  }

  protected async doImportDataEnd(): Promise<void> {}

  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    if (srcPool.driver !== 'linux-kernel') throw new StoragePoolError(`Cannot import volume ${src.vid} of pool ${srcPool.name} into kernel volume ${v.vid}`);
  }

  protected async doResize(v: Volume): Promise<void> {
    throw new StoragePoolError(`Cannot resize: ${v.vid} is read-only`);
  }

  protected async doRevert(v: Volume): Promise<void> {
    throw new StoragePoolError(`Kernel volume ${v.vid} has no revisions`);
  }

  async isDirty(): Promise<boolean> {
    return false;
  }

  async isOutdated(): Promise<boolean> {
    return false;
  }

  async revisions(): Promise<Revision[]> {
    return [];
  }

  async size(v: Volume): Promise<number> {
    if (noKernel(v.vid)) return 0;
    const s = fs.statSync(this.path(v), { throwIfNoEntry: false });
    return s ? s.size : 0;
  }

  async usage(v: Volume): Promise<number> {
    if (noKernel(v.vid)) return 0;
    let total = 0;
    for (const f of ['vmlinuz', 'initramfs', 'modules.img']) {
      const s = fs.statSync(path.join(this.dir(v), f), { throwIfNoEntry: false });
      if (s) total += s.blocks * 512;
    }
    return total;
  }

  /** Where the modules image is (or would be): `None` names a directory too, as in the reference. */
  path(v: Volume): string {
    return v.vid === '' ? '' : path.join(this.dir(v), 'modules.img');
  }

  /** The kernels' directory usually lies inside the default file pool's (/var/lib/qubes/vm-kernels). */
  override includedIn(pools: readonly StoragePool[]): StoragePool | undefined {
    return containingPool(this, this.dirPath, pools);
  }

  blockDevice(v: Volume): BlockDevice | undefined {
    if (noKernel(v.vid) || !fs.existsSync(this.path(v))) return undefined;
    return { path: this.path(v), name: v.name, rw: false, devtype: 'disk' };
  }
}
