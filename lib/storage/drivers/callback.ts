// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `callback` driver: a pool that wraps a pool of another driver (its
 * `bdriver`, with `bdriver_args`, from the entry `conf_id` of the callback
 * configuration) and runs the user's commands around its operations, to
 * mount, decrypt or log the storage underneath. qubes.xml holds only
 * `name`, `driver` and `conf_id`; the volumes are the wrapped pool's (their
 * vids, files and devices), under the callback pool's name.
 *
 * Commands run as `/bin/bash -c "COMMAND ARGS"` with the command's
 * environment and `/` as working directory. An event's own command
 * (`pre_volume_start`, ...) gets no arguments; without one the generic
 * `cmd` runs with, shell-quoted: pool name, bdriver, event, conf_id, the
 * entry as JSON, then for volume events the volume's name, vid and source
 * vid (`None`) and the event's extras (size, success, source vid, export
 * path). `-` disables an event. A command that exits non-zero fails the
 * operation (after a `post_` event the wrapped pool's work is done).
 *
 *   event                        when
 *   pre_sinit                    once per boot, before the first operation
 *   pre_setup                    qvm-pool add, before the wrapped setup
 *   pre_volume_create            post_volume_create    around create
 *   post_volume_remove           after remove
 *   pre_volume_resize SIZE       before resize
 *   pre_volume_start             post_volume_start     around start
 *   post_volume_stop             after stop
 *   pre_volume_import SRC_VID    post_volume_import SRC_VID   around a copy from another volume
 *   pre_volume_import_data SIZE  before an import of data
 *   post_volume_import_data_end True|False              after it ends
 *   pre_volume_export            post_volume_export_end PATH  around an export
 *   post_destroy                 never (no command destroys a pool, as in the reference)
 *
 * "Once per boot": the reference runs pre_sinit once per qubesd lifetime;
 * here every command is its own process, so the first one after a boot
 * runs it and leaves `<run dir>/callback-pools/<pool>.initialised` (the run
 * directory is a tmpfs), under a lock so that two commands never both run
 * it. Until then the pool reports no size or usage, its volumes no block
 * device and are neither dirty nor outdated, as in the reference. Adding
 * the pool (setup) counts as the initialisation, without pre_sinit.
 *
 * Reference: qubes-core-admin: qubes/storage/callback.py; spec storage.md §3.6.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from '../../app/app.js';
import { callbackConfigPath, DEFAULT_LOCK_TIMEOUT_MS } from '../../config.js';
import { StoragePoolError, StoreLockError } from '../../errors.js';
import { namingPool, readCallbackConfig, shellQuote, wrappedRecord, type CallbackConfig } from '../callback-config.js';
import { checkRun } from '../copy-data.js';
import { checkPoolOptions, StoragePool, type BlockDevice, type PoolSpace, type StorageContext } from '../pool.js';
import type { PoolOpener } from '../pools.js';
import type { Revision, Volume, VolumeOwner, VolumeSettings } from '../volume.js';

/** Opens a callback pool: reads its configuration entry, then opens the pool it wraps. */
export const openCallbackPool: PoolOpener = async (record, ctx, open) => {
  checkPoolOptions(record);
  const file = ctx.callbackConfig ?? callbackConfigPath({});
  namingPool(record, file); // a chain of callback pools that comes back to itself is refused, not opened forever
  const conf = readCallbackConfig(file, record.attr('conf_id') as string);
  const backend = await open(wrappedRecord(record.name, conf), ctx);
  return new CallbackPool(record, ctx, conf, backend);
};

/** A volume event's arguments for the generic `cmd`: name, vid, source vid (`None`), extras. */
const volumeArgs = (v: Volume, extra: (string | number | boolean)[] = []): string[] => [
  v.name,
  v.vid,
  v.source ?? 'None',
  ...extra.map((x) => (typeof x === 'boolean' ? (x ? 'True' : 'False') : String(x))),
];

/** A pool name as one file name (the running markers' escaping). */
const fileName = (pool: string): string => pool.replace(/-/g, '--').replace(/\//g, '-');

export class CallbackPool extends StoragePool {
  readonly driver = 'callback' as const;
  /** In this process: the initialisation done or under way. */
  private initialising?: Promise<void>;

  constructor(
    record: Pool,
    ctx: StorageContext,
    readonly conf: CallbackConfig,
    /** The wrapped pool (same name, the bdriver's instance). */
    readonly backend: StoragePool,
  ) {
    super(record, ctx);
  }

  override get revisionsToKeep(): number {
    return this.backend.revisionsToKeep;
  }

  override get ephemeralVolatile(): boolean {
    return this.backend.ephemeralVolatile;
  }

  // ---- running the callbacks ----

  /** A command configured for `event`: its own, else the generic `cmd` (with arguments); `-` or none: nothing. */
  private commandFor(event: string, args: string[]): string | undefined {
    const own = this.conf.entry[event];
    if (typeof own === 'string' && own !== '') return own === '-' ? undefined : own;
    const cmd = this.conf.entry.cmd;
    if (typeof cmd !== 'string' || cmd === '' || cmd === '-') return undefined;
    const all = [this.name, this.conf.bdriver, event, this.conf.confId, this.conf.text, ...args];
    return `${cmd} ${all.map(shellQuote).join(' ')}`;
  }

  /**
   * Run the command of `event` through bash.
   * @throws StoragePoolError when it exits non-zero (its last line of stderr), QubesCancelledError
   */
  private async callback(event: string, args: string[] = []): Promise<void> {
    const line = this.commandFor(event, args);
    if (line === undefined) return;
    const r = checkRun(await this.ctx.runner.run(['/bin/bash', '-c', line], { signal: this.ctx.signal }), this.ctx.signal);
    if (r.exitCode !== 0) {
      const why = (r.stderr.trim() || r.stdout.trim()).split('\n').at(-1);
      throw new StoragePoolError(`Callback ${event} of pool ${this.name} failed with exit code ${r.exitCode}${why ? `: ${why}` : ''}`);
    }
    if (this.conf.signalBack) for (const out of r.stdout.split(/\r\n|\r|\n/)) if (out === 'SIGNAL_setup') await this.backend.setup();
  }

  private volumeCallback(event: string, v: Volume, extra?: (string | number | boolean)[]): Promise<void> {
    return this.callback(event, volumeArgs(v, extra));
  }

  // ---- pre_sinit: once per boot ----

  /** pre_sinit (or a generic cmd) is configured: the storage needs initialising before use. */
  private get needsInit(): boolean {
    const own = this.conf.entry.pre_sinit;
    const cmd = typeof own === 'string' && own !== '' ? own : this.conf.entry.cmd;
    return typeof cmd === 'string' && cmd !== '' && cmd !== '-';
  }

  private get initMarker(): string {
    return path.join(this.ctx.runDir, 'callback-pools', `${fileName(this.name)}.initialised`);
  }

  /** Initialised this boot (or nothing to initialise). */
  private get initialised(): boolean {
    return !this.needsInit || fs.existsSync(this.initMarker);
  }

  /** Run pre_sinit unless done this boot (`run` false: only record it done, for setup). */
  private ensureInitialised(run = true): Promise<void> {
    if (this.initialised) return Promise.resolve();
    this.initialising ??= this.initialise(run).finally(() => (this.initialising = undefined));
    return this.initialising;
  }

  private async initialise(run: boolean): Promise<void> {
    const marker = this.initMarker;
    fs.mkdirSync(path.dirname(marker), { recursive: true, mode: 0o755 });
    // loaded on first use, as the volume locks do
    const { lockStore } = await import('../../app/store-lock.js');
    let release: () => Promise<void>;
    try {
      release = await lockStore(marker, this.ctx.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    } catch (e) {
      if (e instanceof StoreLockError) throw new StoragePoolError(`Cannot initialise pool ${this.name}: ${e.message}`);
      throw e;
    }
    try {
      if (fs.existsSync(marker)) return; // another command did it meanwhile
      if (run) await this.callback('pre_sinit');
      fs.writeFileSync(marker, '');
    } finally {
      await release();
    }
  }

  // ---- pool ----

  async setup(): Promise<void> {
    await this.ensureInitialised(false);
    await this.callback('pre_setup');
    await this.backend.setup();
  }

  override async checkHost(): Promise<void> {
    await this.backend.checkHost();
  }

  async space(): Promise<PoolSpace> {
    return this.initialised ? this.backend.space() : { details: {} };
  }

  listVolumes(): Promise<string[]> {
    return this.backend.listVolumes();
  }

  override initVolume(s: VolumeSettings, owner?: VolumeOwner): Volume {
    return this.backend.initVolume(s, owner);
  }

  override includedIn(pools: readonly StoragePool[]): StoragePool | undefined {
    return this.initialised ? this.backend.includedIn(pools) : undefined;
  }

  override encryptedVolumePath(v: Volume): string {
    return this.backend.encryptedVolumePath(v);
  }

  // ---- volume operations: under the volume's lock (the wrapped pool's, same name), which the wrapped pool takes again ----

  /** The wrapped pool's leftovers, once its storage is initialised (mounted). */
  protected override async recoverLeftovers(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await StoragePool.recoverLeftoversOf(this.backend, v);
  }

  protected async doCreate(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_create', v);
    await this.backend.create(v);
    await this.volumeCallback('post_volume_create', v);
  }

  protected async doRemove(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await this.backend.remove(v);
    await this.volumeCallback('post_volume_remove', v);
  }

  protected async doStart(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_start', v);
    await this.backend.start(v);
    await this.volumeCallback('post_volume_start', v);
  }

  protected async doStop(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await this.backend.stop(v);
    await this.volumeCallback('post_volume_stop', v);
  }

  protected async doImportData(v: Volume, size: number): Promise<string> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_import_data', v, [size]);
    return this.backend.importData(v, size);
  }

  protected async doImportDataEnd(v: Volume, success: boolean): Promise<void> {
    await this.ensureInitialised();
    await this.backend.importDataEnd(v, success);
    await this.volumeCallback('post_volume_import_data_end', v, [success]);
  }

  protected async doImportVolume(v: Volume, src: Volume, srcPool: StoragePool): Promise<void> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_import', v, [src.vid]);
    await this.backend.importVolume(v, src, srcPool);
    await this.volumeCallback('post_volume_import', v, [src.vid]);
  }

  protected async doResize(v: Volume, size: number): Promise<void> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_resize', v, [size]);
    await this.backend.resize(v, size);
  }

  protected async doRevert(v: Volume, revision?: string): Promise<void> {
    await this.ensureInitialised();
    await this.backend.revert(v, revision);
  }

  // ---- reading ----

  async verify(v: Volume): Promise<void> {
    await this.ensureInitialised();
    await this.backend.verify(v);
  }

  async export(v: Volume): Promise<string> {
    await this.ensureInitialised();
    await this.volumeCallback('pre_volume_export', v);
    return this.backend.export(v);
  }

  override async exportEnd(v: Volume, exported: string): Promise<void> {
    await this.ensureInitialised();
    await this.backend.exportEnd(v, exported);
    await this.volumeCallback('post_volume_export_end', v, [exported]);
  }

  async isDirty(v: Volume): Promise<boolean> {
    return this.initialised && this.backend.isDirty(v);
  }

  async isOutdated(v: Volume): Promise<boolean> {
    return this.initialised && this.backend.isOutdated(v);
  }

  revisions(v: Volume): Promise<Revision[]> {
    return this.backend.revisions(v);
  }

  size(v: Volume): Promise<number> {
    return this.backend.size(v);
  }

  usage(v: Volume): Promise<number> {
    return this.backend.usage(v);
  }

  path(v: Volume): string {
    return this.backend.path(v);
  }

  blockDevice(v: Volume): BlockDevice | undefined {
    return this.initialised ? this.backend.blockDevice(v) : undefined;
  }
}
