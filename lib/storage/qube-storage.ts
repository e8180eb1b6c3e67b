// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The volumes of one qube, each with its pool's driver, and what happens
 * to all of them together: create on disk (undone on failure), remove,
 * start and stop around the domain's life (with the running markers the
 * reference keeps in /var/run/qubes), verify, clone from another qube.
 *
 * Nothing here takes the store lock: callers record configuration changes
 * (a new size, a new qube) in their own store updates.
 *
 * Reference: qubes-core-admin: qubes/storage/__init__.py class Storage;
 * spec storage.md §1.3, §2.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import { QubesError, StoragePoolError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeAttr } from '../vm/volume-config.js';
import { asRoot } from './command-runner.js';
import type { StorageContext, StoragePool } from './pool.js';
import { openPool } from './pools.js';
import { runningMarker } from './running-marker.js';
import { settingsFromConfig, type Volume } from './volume.js';

export interface QubeVolume {
  volume: Volume;
  pool: StoragePool;
}

/** The pools of one store, each driver opened once. */
export class PoolSet {
  private readonly opened = new Map<string, Promise<StoragePool>>();
  readonly ctx: StorageContext;

  /** Offline mode is the store's (its hypervisor connection) unless `ctx` says. */
  constructor(
    readonly app: Qubes,
    ctx: StorageContext,
  ) {
    this.ctx = { ...ctx, offline: ctx.offline ?? app.vmm.offline };
    ctx.onPoolSet?.();
  }

  /** @throws StoragePoolError for a name that is not a pool */
  get(name: string): Promise<StoragePool> {
    let p = this.opened.get(name);
    if (!p) {
      const record = this.app.pools.get(name);
      if (!record) return Promise.reject(new StoragePoolError(`No such storage pool: ${name}`));
      p = openPool(record, this.ctx);
      this.opened.set(name, p);
    }
    return p;
  }

  async all(): Promise<StoragePool[]> {
    return Promise.all([...this.app.pools.keys()].map((n) => this.get(n)));
  }

  /** The volumes of a qube in volume-config order. */
  async volumesOf(vm: QubesVM): Promise<QubeVolume[]> {
    const owner = { name: vm.name, klass: vm.klass };
    const out: QubeVolume[] = [];
    // one after the other: opening a pool may load its driver module
    for (const cfg of vm.volumeConfig) {
      const pool = await this.get(volumeAttr(cfg, 'pool') ?? '');
      out.push({ volume: pool.initVolume(settingsFromConfig(cfg, pool.revisionsToKeep), owner), pool });
    }
    return out;
  }

  async qube(vm: QubesVM): Promise<QubeStorage> {
    return new QubeStorage(vm.name, await this.volumesOf(vm), this.ctx, (v) => this.sourceOf(v));
  }

  /** The volume a snapshot volume snapshots: the one with its source vid in the same pool. */
  async sourceOf(v: QubeVolume): Promise<QubeVolume | undefined> {
    if (!v.volume.source) return undefined;
    for (const vm of this.app.domains.all()) {
      const cfg = vm.volumeConfig.find((c) => volumeAttr(c, 'pool') === v.pool.name && volumeAttr(c, 'vid') === v.volume.source);
      if (cfg) return { volume: v.pool.initVolume(settingsFromConfig(cfg, v.pool.revisionsToKeep), { name: vm.name, klass: vm.klass }), pool: v.pool };
    }
    return undefined;
  }
}

export class QubeStorage {
  constructor(
    readonly vmName: string,
    readonly volumes: QubeVolume[],
    private readonly ctx: StorageContext,
    readonly sourceOf: (v: QubeVolume) => Promise<QubeVolume | undefined> = async () => undefined,
  ) {}

  get(name: string): QubeVolume | undefined {
    return this.volumes.find((v) => v.volume.name === name);
  }

  /** @throws QubesError naming the qube and volume */
  require(name: string): QubeVolume {
    const v = this.get(name);
    if (!v) throw new QubesError(`vm '${this.vmName}' has no volume '${name}'`);
    return v;
  }

  private marker(v: QubeVolume): string {
    return runningMarker(this.ctx.runDir, v.pool.name, v.volume.vid);
  }

  isRunning(v: QubeVolume): boolean {
    return fs.existsSync(this.marker(v));
  }

  /**
   * Whether the qube's own volumes run (it was started and its stop is
   * not handled yet): a writable volume has its running marker. Read-only
   * ones are left out: a kernel volume's marker (pool and kernel version)
   * is shared by every running qube with that kernel.
   */
  ownVolumesRunning(): boolean {
    return this.volumes.some((v) => v.volume.rw && this.isRunning(v));
  }

  /**
   * Create every volume but those in `skip` (a clone fills them from its
   * source instead); when one fails, remove all again and rethrow.
   */
  async create(skip: readonly string[] = []): Promise<void> {
    const todo = this.volumes.filter((v) => !skip.includes(v.volume.name));
    const results = await Promise.allSettled(todo.map((v) => v.pool.create(v.volume)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    await this.removeData();
    throw failed.reason;
  }

  /** Remove every volume's data; returns the problems (callers warn, the qube is gone anyway). */
  async removeData(): Promise<string[]> {
    const problems: string[] = [];
    for (const v of this.volumes) {
      try {
        await v.pool.stop(v.volume);
      } catch (e) {
        problems.push(`stopping volume ${v.volume.name}: ${(e as Error).message}`);
      }
      try {
        await v.pool.remove(v.volume);
      } catch (e) {
        problems.push(`removing volume ${v.volume.name}: ${(e as Error).message}`);
      }
      fs.rmSync(this.marker(v), { force: true });
    }
    return problems;
  }

  async verify(): Promise<void> {
    for (const v of this.volumes) await v.pool.verify(v.volume);
  }

  /**
   * Start every volume (before the domain starts); if one fails, stop
   * those started and rethrow. A source attached directly to a running
   * qube (snapshots disabled) cannot be snapshotted.
   */
  async start(): Promise<void> {
    for (const v of this.volumes) {
      const src = v.volume.isSnapshot ? await this.sourceOf(v) : undefined;
      if (src && src.volume.snapshotsDisabled && this.isRunning(src)) throw new QubesError(`Volume ${src.volume.vid} is running`);
    }
    const results = await Promise.allSettled(this.volumes.map((v) => this.startOne(v)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
    fs.mkdirSync(this.ctx.runDir, { recursive: true });
    for (const v of this.volumes) fs.writeFileSync(this.marker(v), '');
  }

  /** Stop every volume (after the domain ended); returns problems instead of throwing, as the reference logs them. */
  async stop(): Promise<string[]> {
    const problems: string[] = [];
    const results = await Promise.allSettled(this.volumes.map((v) => this.stopOne(v)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') problems.push(`volume ${this.volumes[i]?.volume.name}: ${(r.reason as Error).message}`);
    });
    for (const v of this.volumes) fs.rmSync(this.marker(v), { force: true });
    return problems;
  }

  /**
   * Start one volume; an ephemeral one is then opened through dm-crypt
   * with a throw-away key (a stale mapping of a crashed run closed first)
   * and the start of the mapping zeroed, so the qube sees no old header.
   */
  private async startOne(v: QubeVolume): Promise<void> {
    if (!v.volume.ephemeral) return v.pool.start(v.volume);
    const mapping = v.pool.encryptedVolumePath(v.volume);
    if (fs.existsSync(mapping)) await this.closeMapping(mapping);
    await v.pool.start(v.volume);
    const dev = v.pool.blockDevice(v.volume);
    if (!dev) throw new StoragePoolError(`Volume ${v.volume.vid} has no block device to encrypt`);
    await this.cryptsetup(['--key-file=/dev/urandom', '--cipher=aes-xts-plain64', '--type=plain', '--', 'open', dev.path, path.basename(mapping)]);
    const fd = fs.openSync(mapping, 'r+');
    try {
      fs.writeSync(fd, Buffer.alloc(65536), 0, 65536, 0);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Stop one volume, closing its dm-crypt mapping first (whatever `ephemeral` says now). */
  private async stopOne(v: QubeVolume): Promise<void> {
    const mapping = v.pool.encryptedVolumePath(v.volume);
    if (fs.existsSync(mapping)) await this.closeMapping(mapping);
    await v.pool.stop(v.volume);
  }

  private closeMapping(mapping: string): Promise<void> {
    return this.cryptsetup(['--', 'close', path.basename(mapping)]);
  }

  private async cryptsetup(args: string[]): Promise<void> {
    const r = await this.ctx.runner.run(asRoot(['cryptsetup', ...args]), { env: { LC_ALL: 'C' } });
    if (r.exitCode !== 0) throw new StoragePoolError(`cryptsetup ${args.join(' ')} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
  }

  /** The path the qube's domain uses for a volume: the dm-crypt mapping of an ephemeral one. */
  devicePath(v: QubeVolume): string | undefined {
    if (v.volume.ephemeral) return v.pool.encryptedVolumePath(v.volume);
    return v.pool.blockDevice(v.volume)?.path;
  }

  /**
   * Copy the committed data of `src`'s same-named volumes into this qube's
   * volumes (clone). A snapshot volume's data is its origin's (an AppVM's
   * root is its template's root). The destination must not be running.
   */
  async cloneFrom(src: QubeStorage, names: readonly string[]): Promise<void> {
    for (const name of names) {
      const dst = this.require(name);
      const named = src.require(name);
      const from = named.volume.isSnapshot ? await src.sourceOf(named) : named;
      if (!from) throw new QubesError(`The source of volume ${name} of ${src.vmName} (${named.volume.source}) is not in the store`);
      if (this.isRunning(dst)) throw new QubesError('Cannot clone a running domain');
      await from.pool.verify(from.volume);
      await dst.pool.importVolume(dst.volume, from.volume, from.pool);
    }
  }
}
