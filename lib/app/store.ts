// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Opening qubes.xml for reading (no lock: saves are atomic renames) and for
 * changing (lock, re-read under the lock, change, save, unlock). The lock is
 * held only for the load-change-save of the store itself; long work such as
 * starting qubes or copying disks happens outside it (spec §4.3, #1458).
 *
 * Save: write `qubes.xml~<random>` in the same directory, fsync, mode 0660
 * and group `qubes` when that group exists, check nobody bypassing the lock
 * changed the store since we read it (#1729), rename over qubes.xml, fsync
 * the directory (#3376). Temporary files left by a killed writer are removed
 * by the next writer, under the lock.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.load/save,
 * qubes/utils.py replace_file; shared/spec/store-and-core-tools.md §4.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_LOCK_TIMEOUT_MS, type Paths } from '../config.js';
import { StoreError } from '../errors.js';
import { replaceFile, syncDir, tempNamePattern } from '../util/atomic-write.js';
import { InputFileError, MiB, readInputFileStat } from '../util/input-file.js';
import { ioReason } from '../util/io-error.js';
import { XmlWriteError } from '../util/xml-writer.js';
import type { Vmm } from '../vmm/vmm.js';
import type { Qubes } from './app.js';
import type { HostFacts } from './load-migrations.js';
import { loadRawStore, scanQubesXml, type LoadWarnings } from './qubes-xml-read.js';
import { StoreCache } from './store-cache.js';
import { serializeQubes } from './qubes-xml-write.js';
import type { Release } from './store-lock.js';

function ioError(what: string, file: string, e: unknown): StoreError {
  return new StoreError(`Cannot ${what} ${file}: ${ioReason(e)}`);
}

interface FileIdentity {
  ino: number;
  mtimeMs: number;
  size: number;
}

const sameFile = (a: FileIdentity, b: FileIdentity) => a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size;

/**
 * The largest qubes.xml read: the 1004-qube sample is 1.3 MiB, so this
 * leaves room for the 10,000 qubes qids allow with five times the
 * features each, and still refuses a runaway file before it fills memory.
 */
export const STORE_MAX_BYTES = 64 * MiB;

/** What a store needs from the command's settings besides its paths (lib/config.ts). */
export interface StoreSettings {
  /** How long a writer waits for the lock (QUBES_LOCK_TIMEOUT_MS). */
  lockTimeoutMs?: number;
  /** What loading needs to know about this machine (lib/host/load-facts.ts); none: nothing is migrated from it. */
  host?: HostFacts;
  /** The installer's thin pool, which the default pool prefers. */
  defaultLvmPool?: string;
  /** The directory of the parsed-store cache (lib/app/store-cache.ts); none: no cache. */
  cacheDir?: string;
  /** Stores smaller than this many bytes are not cached (config.ts storeCacheMinBytes). */
  cacheMinBytes?: number;
}

export class Store {
  readonly warnings: LoadWarnings = [];
  /** How many times qubes.xml was parsed: a command's steps share one load where they can (tests count). */
  loads = 0;
  /** The parsed-store cache once opened (undefined: none), null before. */
  private cacheOpened: StoreCache | undefined | null = null;

  constructor(
    readonly paths: Paths,
    readonly vmm: Vmm,
    private readonly settings: StoreSettings = {},
  ) {}

  /** What loading needs to know about this machine (a backup's store is loaded with it too). */
  get host(): HostFacts {
    return this.settings.host ?? {};
  }

  get file(): string {
    return this.paths.store;
  }

  /**
   * The store's bytes and identity. Only a regular file of at most
   * STORE_MAX_BYTES is read (QUBES_XML_PATH=/dev/zero is refused, not read
   * forever); its identity is that of the descriptor read.
   */
  private readRaw(): { src: Buffer; id: FileIdentity; st: fs.Stats } {
    let st: fs.Stats;
    let src: Buffer;
    try {
      ({ data: src, stat: st } = readInputFileStat(this.file, { what: 'qubes.xml', maxBytes: STORE_MAX_BYTES }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new StoreError(`Qubes XML store '${this.file}' is missing; use qubes-create tool`);
      if (e instanceof InputFileError) throw new StoreError(e.message);
      throw ioError('read', this.file, e);
    }
    return { src, st, id: { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size } };
  }

  /** The parsed-store cache, opened on first use (undefined: none). */
  private cache(): StoreCache | undefined {
    if (this.cacheOpened === null) this.cacheOpened = StoreCache.open(this.settings.cacheDir);
    return this.cacheOpened;
  }

  /**
   * Warnings are those of the latest load (commands may load more than
   * once). The raw records come from the parsed-store cache when it holds
   * these very bytes; else they are scanned, and kept there when `remember`
   * (readers: a writer's store is replaced by its own save right after).
   */
  private parse({ src, st }: { src: Buffer; st: fs.Stats }, remember: boolean): Qubes {
    this.warnings.length = 0;
    this.loads++;
    const { host, defaultLvmPool } = this.settings;
    const cache = src.length >= (this.settings.cacheMinBytes ?? 0) ? this.cache() : undefined;
    let raw = cache?.get(src, st);
    let text: () => string;
    if (raw) {
      // decoded only for a message's line number: these bytes were decoded (strictly) when the entry was made
      text = () => src.toString('utf8');
    } else {
      const scanned = scanQubesXml(src, this.file);
      raw = scanned.raw;
      text = () => scanned.src;
      if (remember) cache?.put(src, st, raw);
    }
    return loadRawStore(raw, text, this.file, this.vmm, this.paths.baseDir, this.warnings, { host, defaultLvmPool });
  }

  /** Load a snapshot without locking. */
  read(): Qubes {
    return this.parse(this.readRaw(), true);
  }

  /**
   * Lock, load, let `change` modify the store, save, unlock. If `change`
   * throws, nothing is written.
   */
  async update<T>(change: (app: Qubes) => T | Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      this.removeStaleTemps();
      const file = this.readRaw();
      const app = this.parse(file, false);
      const result = await change(app);
      this.save(app, file.id);
      return result;
    } finally {
      await release();
    }
  }

  /**
   * Lock, load, run `work`, unlock, without writing qubes.xml: for state
   * kept beside the store (a qube's firewall.xml), so that its writers are
   * serialised with each other and with changes to the qubes themselves
   * (a qube cannot be removed or renamed while its rules are rewritten).
   */
  async locked<T>(work: (app: Qubes) => T | Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      return await work(this.parse(this.readRaw(), false));
    } finally {
      await release();
    }
  }

  /** Write a new store; refuses to overwrite an existing one (qubes-create). */
  async create(app: Qubes): Promise<void> {
    const dir = path.dirname(this.file);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw ioError('create directory', dir, e);
    }
    const release = await this.lock();
    try {
      if (fs.existsSync(this.file)) throw new StoreError(`${this.file} already exists, aborting`);
      this.removeStaleTemps();
      this.save(app, undefined);
    } finally {
      await release();
    }
  }

  /** The lock code is loaded only by commands that write. */
  private async lock(): Promise<Release> {
    const { lockStore } = await import('./store-lock.js');
    return lockStore(this.file, this.settings.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  }

  /**
   * Under the lock, a temporary file of ours can only be a dead writer's.
   * Only our exact name pattern is touched: `qubes.xml~` or
   * `qubes.xml~before-upgrade` may be a user's own backup.
   */
  private removeStaleTemps(): void {
    const dir = path.dirname(this.file);
    const ours = tempNamePattern(this.file);
    try {
      for (const n of fs.readdirSync(dir)) if (ours.test(n)) fs.rmSync(path.join(dir, n), { force: true });
    } catch (e) {
      throw ioError('clean up temporary files next to', this.file, e);
    }
  }

  private save(app: Qubes, readId: FileIdentity | undefined): void {
    let xml: string;
    try {
      xml = serializeQubes(app);
    } catch (e) {
      // The writer's guarantee that no store it writes breaks another parser.
      if (e instanceof XmlWriteError) throw new StoreError(`Cannot save ${this.file}: ${e.message}`);
      throw e;
    }
    try {
      replaceFile(this.file, xml, {
        mode: 0o660,
        beforeRename: () => {
          if (!readId) return;
          let now: FileIdentity | undefined;
          try {
            now = fs.statSync(this.file);
          } catch {
            now = undefined;
          }
          if (!now || !sameFile(now, readId)) throw new StoreError('Someone else modified qubes.xml in the meantime');
        },
      });
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw ioError('save', this.file, e);
    }
    // The rename is done; make it durable (#3376: empty qubes.xml after a crash).
    try {
      syncDir(path.dirname(this.file));
    } catch (e) {
      throw ioError('sync the directory of', this.file, e);
    }
  }
}
