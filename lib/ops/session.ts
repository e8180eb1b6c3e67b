// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What one command (and, later, one daemon request) works with, made once
 * by the runner (lib/tools/common/program.ts) from the environment it was
 * given: the store, the hypervisor connection (opened lazily, one per
 * session), the pools of the loaded store, paths and host roots resolved
 * once, a clock, logging and warnings, and the standard streams with
 * whether each is a terminal.
 *
 * The library below takes what it needs from here (or the parts handed to
 * it) and never reads the process's environment or streams itself, so two
 * sessions with different settings can run in one process.
 *
 * Steps of one command share what the session made: one Store (its loads
 * are counted, tests check a command parses qubes.xml once where the
 * reference loads once), one Vmm (its refreshes are counted likewise) and
 * one PoolSet per loaded store (session-storage.ts: the storage code is
 * not part of the commands that do not use it, such as qvm-ls and
 * qvm-prefs, whose start-up would pay for reading it).
 */
import type { Readable } from 'node:stream';
import type { Qubes } from '../app/app.js';
import { Store } from '../app/store.js';
import { defaultLvmPool, deprecatedEnvWarnings, hostRoots, lockTimeoutMs, nowMs, pathsFromEnv, storeCacheDir, storeCacheMinBytes, type Env, type HostRoots, type Paths } from '../config.js';
import { hostFacts } from '../host/load-facts.js';
import { makeVmm, offlineRequested } from '../vmm/open-vmm.js';
import type { Vmm } from '../vmm/vmm.js';

/** A readable standard input: the process's, or a stream a test or a daemon request gives. */
export type InputStream = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** The standard streams of a session. */
export interface SessionStreams {
  /** Text to standard output (may throw once the reader is gone; see program.ts). */
  out: (s: string) => void;
  /** Text to standard error. */
  err: (s: string) => void;
  /** Standard output as a stream, for binary data (a backup written to `-`); made when first asked. */
  stdout: () => NodeJS.WritableStream;
  /** Standard input, made when first asked (the process's may load the net module). */
  stdin: () => InputStream;
  /** Whether standard output is a terminal (asked only by the commands that change their output for one: the process's stream is made on first use). */
  stdoutIsTTY: () => boolean;
  /** Whether standard error is a terminal (asked only by progress displays: process.stderr is made on first use). */
  stderrIsTTY: () => boolean;
  stdinIsTTY: () => boolean;
  /** One line of standard input, read synchronously (a confirmation; EOF gives what was read, possibly ''). */
  readLine: () => string;
  /** The working directory relative paths are taken from. */
  cwd: string;
  /** The path the command was run as (a link named qvm-CLASS; qubesdb-daemon forks itself from it). */
  program?: string;
}

export interface SessionOptions {
  env: Env;
  streams: SessionStreams;
  /** `--offline-mode` was given (the environment and a chroot are looked at too). */
  offlineFlag?: boolean;
  /** -v/-q: verbosity above 0 shows progress (`log`). */
  verbose?: number;
  /** The command's name, which prefixes its messages. */
  prog: string;
  /** The hypervisor of the session (tests give their own); default libvirt at the environment's URI, or offline. */
  vmm?: (offline: boolean, env: Env) => Vmm;
  /** A store already open (the daemon's, shared by its requests); its hypervisor is the session's. */
  store?: Store;
  /** Where warnings and progress go instead of standard error (the daemon's log). */
  warn?: (message: string) => void;
  log?: (message: string) => void;
}

/** How often the session's shared resources were used: tests check a command's steps share them. */
export interface SessionCounts {
  storeLoads: number;
  vmmRefreshes: number;
  poolSets: number;
}

export class Session {
  readonly env: Env;
  readonly prog: string;
  readonly verbose: number;
  readonly offline: boolean;
  readonly paths: Paths;
  readonly hostRoots: HostRoots;
  readonly streams: SessionStreams;
  private readonly vmmFactory: (offline: boolean, env: Env) => Vmm;
  private storeMade?: Store;
  private vmmMade?: Vmm;
  private loaded?: Qubes;
  private readonly shared = new Map<symbol, unknown>();
  private refreshes = 0;
  private poolSetsMade = 0;
  private readonly hooks: Pick<SessionOptions, 'warn' | 'log'>;

  constructor(o: SessionOptions) {
    this.env = o.env;
    this.prog = o.prog;
    this.verbose = o.verbose ?? 0;
    this.streams = o.streams;
    this.offline = offlineRequested(o.offlineFlag, o.env);
    this.paths = pathsFromEnv(o.env);
    this.hostRoots = hostRoots(o.env);
    this.vmmFactory = o.vmm ?? makeVmm;
    this.hooks = { warn: o.warn, log: o.log };
    if (o.store) {
      // a store of longer life than the session: its hypervisor is used as it is (refreshes not counted)
      this.storeMade = o.store;
      this.vmmMade = o.store.vmm;
    }
    for (const w of deprecatedEnvWarnings(o.env)) this.warn(w);
  }

  /** The hypervisor of this session, made on first use (connecting is lazier still: libvirt-vmm.ts). */
  vmm(): Vmm {
    if (!this.vmmMade) {
      const vmm = this.vmmFactory(this.offline, this.env);
      const refresh = vmm.refresh.bind(vmm);
      vmm.refresh = (vms) => {
        this.refreshes++;
        return refresh(vms);
      };
      this.vmmMade = vmm;
    }
    return this.vmmMade;
  }

  /** The store, opened lazily (nothing is read until asked). */
  store(): Store {
    return (this.storeMade ??= new Store(this.paths, this.vmm(), {
      lockTimeoutMs: lockTimeoutMs(this.env),
      host: hostFacts(this.hostRoots),
      defaultLvmPool: defaultLvmPool(this.env),
      cacheDir: storeCacheDir(this.env),
      cacheMinBytes: storeCacheMinBytes(this.env),
    }));
  }

  /**
   * The store as loaded once for this command, without the lock: the
   * steps of a command that only read (select qubes, then start them)
   * share it, as qubesd's steps share its one loaded app. Changes go
   * through store().update(), which re-reads under the lock; after one,
   * `forget()` makes the next app() load again.
   */
  app(): Qubes {
    return (this.loaded ??= this.store().read());
  }

  /** The next app() loads the store again (it was changed under the lock). */
  forget(): void {
    this.loaded = undefined;
  }

  /** Whether the store was opened (its load warnings are shown at the end with -v). */
  get openedStore(): Store | undefined {
    return this.storeMade;
  }

  /**
   * Something made once per session by a module above (the pool sets of
   * session-storage.ts), kept under that module's own key.
   */
  once<T>(key: symbol, make: () => T): T {
    if (!this.shared.has(key)) this.shared.set(key, make());
    return this.shared.get(key) as T;
  }

  /** A PoolSet was made with this session's storage context (session-storage.ts). */
  countPoolSet(): void {
    this.poolSetsMade++;
  }

  /** The clock (`QUBES_TEST_NOW` replaces it in tests), in milliseconds. */
  now(): number {
    return nowMs(this.env);
  }

  /** Progress, shown with -v. */
  log(message: string): void {
    if (this.hooks.log) this.hooks.log(message);
    else if (this.verbose > 0) this.streams.err(`${this.prog}: ${message}\n`);
  }

  /** A problem that does not stop the command. */
  warn(message: string): void {
    if (this.hooks.warn) this.hooks.warn(message);
    else this.streams.err(`${this.prog}: warning: ${message}\n`);
  }

  get counts(): SessionCounts {
    return { storeLoads: this.storeMade?.loads ?? 0, vmmRefreshes: this.refreshes, poolSets: this.poolSetsMade };
  }
}
