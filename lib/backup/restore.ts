// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Restoring (or verifying) a backup into the host's store.
 *
 * Nothing is added before everything is verified: every volume is written
 * into its pool's import target (a temporary file or volume beside the
 * real one), firewall and notes are held in memory, dom0's home goes to a
 * hidden temporary directory. Only when the whole archive was read, every
 * chunk authenticated, every expected file seen and every inner archive
 * complete are the imports committed, the records added in one store
 * update and the home directory renamed into place. Any error or a cancel
 * drops all of it: no half-restored qube, no image in place.
 *
 * This module is the run: plan, confirmation, and the data phase, which
 * reads the archive once and hands each file to its sink; the layout of
 * the archive (restore-layout.ts), the sinks (restore-sinks.ts), the
 * transaction (restore-txn.ts) and the commit step (restore-commit.ts) are
 * their own modules.
 *
 * Reference: qubesadmin/backup/restore.py BackupRestore; spec §4.
 */
import type { Qubes } from '../app/app.js';
import { loadQubesXml } from '../app/qubes-xml-read.js';
import type { Store } from '../app/store.js';
import { deviceServices } from '../devices/services.js';
import { hostRoots } from '../config.js';
import { BackupCancelledError, BackupError } from '../errors.js';
import { PoolSet, type QubeStorage } from '../storage/qube-storage.js';
import { storageContext, volumeNaming } from '../storage/pools.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { BackupArchive } from './archive-reader.js';
import { programInstalled } from './compression.js';
import { InnerFile, type ChunkConsumer, type MemberHandler, type MemberSink } from './inner-file.js';
import { convertR3Store } from './r3-store.js';
import { commitRestore } from './restore-commit.js';
import { archiveRoute, fileOf, qubeFiles, type QubeFiles } from './restore-layout.js';
import { addRestoredRecords, checkBackupQube } from './restore-records.js';
import { makePlan, restorable, type PlanEntry, type PlanOptions } from './restore-plan.js';
import { HomeExtract, importSink, MemorySink, SMALL_MAX, smallFile } from './restore-sinks.js';
import { Txn } from './restore-txn.js';

export interface RestoreOptions {
  input: AsyncIterable<Buffer>;
  passphrase: string;
  store: Store;
  env: NodeJS.ProcessEnv;
  forcedFilter?: string;
  verifyOnly: boolean;
  plan: Omit<PlanOptions, 'verifyOnly'>;
  skipBroken: boolean;
  skipConflicting: boolean;
  /** Log line (`app: ...`, `qubesadmin.backup: ...`) to stderr. */
  log: (logger: 'app' | 'qubesadmin.backup', msg: string) => void;
  /** The plan, once made (the command prints it as the summary table, or keeps it for its JSON). */
  summary: (plan: readonly PlanEntry[]) => void;
  /** Ask to proceed (false: stop without error). */
  confirm: () => boolean;
  /** Bytes of restored data, of the total expected. */
  progress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** dom0 home parent of home-restore-* (default: QUBES_DOM0_HOME or the home directory); large chunks are staged in a hidden directory here. */
  home: string;
  maxKdfMemory?: number;
}

export interface RestoreResult {
  restored: string[];
  /** With verifyOnly: the qubes (and dom0's home) whose data was read whole and authenticated. */
  verified: string[];
  declined: boolean;
  warnings: string[];
}

const cancelCheck = (signal?: AbortSignal) => {
  if (signal?.aborted) throw new BackupCancelledError('Restore cancelled', signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
};

/** The restore: plan, confirmation, data, commit. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    o.log('qubesadmin.backup', m);
  };
  o.log('app', 'Checking backup content...');
  const archive = await BackupArchive.open(o.input, o.passphrase, { forcedFilter: o.forcedFilter, maxKdfMemory: o.maxKdfMemory, stageIn: o.home, installed: (p) => programInstalled(p, o.env), signal: o.signal });
  const txn = new Txn();
  try {
    const xml = await smallFile(archive.qubesXmlChunks, 'qubes.xml', archive, o.passphrase, o.signal);
    const host = o.store.read();
    const backupApp =
      archive.version >= 4
        ? loadQubesXml(xml.toString('utf8'), 'qubes.xml of the backup', host.vmm, host.baseDir, [], { lenient: true, host: o.store.host })
        : convertR3Store(xml.toString('utf8'), host, warn, o.store.host);
    if (!backupApp.adminVm) throw new BackupError('qubes.xml of the backup has no dom0 (AdminVM)');
    const plan = makePlan(backupApp, host, { ...o.plan, verifyOnly: o.verifyOnly });
    o.summary(plan);
    handleProblems(plan, o);
    const todo = o.verifyOnly ? plan.filter((e) => !e.problems.has('excluded')) : restorable(plan);
    for (const e of todo) if (e.klass !== 'AdminVM') checkBackupQube(e);
    if (o.verifyOnly) {
      o.log('app', 'The above VM archive(s) will be verified.');
      o.log('app', 'Existing VMs will NOT be removed or altered.');
    } else {
      o.log('app', 'The above VMs will be copied and added to your system.');
      o.log('app', 'Existing VMs will NOT be removed.');
      if (todo.some((e) => e.klass === 'AdminVM'))
        o.log('app', "NOTE: The archived dom0 home directory will be restored to a new directory 'home-restore-<current-time>' created inside the dom0 home directory. Restored files should be copied or moved out of the new directory before using them.");
    }
    if (!o.confirm()) {
      await archive.close();
      return { restored: [], verified: [], declined: true, warnings };
    }
    return await dataPhase(o, archive, backupApp, todo, warn, warnings, txn);
  } catch (e) {
    await archive.close().catch(() => {});
    await txn.rollback();
    throw e;
  }
}

/** The reference says `restore.Or pass:` (no space); corrected here. */
const INSTALL_MISSING = 'Install them before proceeding with the restore. Or pass: --skip-broken or --ignore-missing.';

function handleProblems(plan: PlanEntry[], o: RestoreOptions): void {
  const has = (p: string) => plan.some((e) => e.problems.has(p as never));
  // verifying reads the archive only: what the host lacks does not matter
  if (o.verifyOnly) return;
  if (has('already-exists')) {
    o.log('app', '*** There are VMs with conflicting names on the host! ***');
    if (o.skipConflicting) o.log('app', 'Those VMs will not be restored. The host VMs will NOT be overwritten.');
    else
      throw new BackupError(
        'Remove VMs with conflicting names from the host before proceeding.\nOr use --skip-conflicting to restore only those VMs that do not exist on the host.\nOr use --rename-conflicting to restore those VMs under modified names (with numbers at the end).',
      );
  }
  if (has('missing-template')) {
    o.log('app', '*** One or more TemplateVMs are missing on the host! ***');
    if (o.skipBroken) o.log('app', 'Skipping broken entries: VMs that depend on missing TemplateVMs will NOT be restored.');
    else throw new BackupError(INSTALL_MISSING);
  }
  if (has('missing-netvm')) {
    o.log('app', '*** One or more NetVMs are missing on the host! ***');
    if (o.skipBroken) o.log('app', 'Skipping broken entries: VMs that depend on missing NetVMs will NOT be restored.');
    else throw new BackupError(INSTALL_MISSING);
  }
  if (has('username-mismatch')) {
    o.log('app', '*** Username mismatch between the dom0 home in the backup and this dom0 ***');
    throw new BackupError('Skip restoring the dom0 home directory (--skip-dom0-home), or pass --ignore-username-mismatch to continue anyway.');
  }
}

async function dataPhase(
  o: RestoreOptions,
  archive: BackupArchive,
  backupApp: Qubes,
  todo: PlanEntry[],
  warn: (m: string) => void,
  warnings: string[],
  txn: Txn,
): Promise<RestoreResult> {
  const version = archive.version;
  const qubes = todo.filter((e) => e.klass !== 'AdminVM');
  const dom0 = todo.find((e) => e.klass === 'AdminVM');
  const files = qubes.map((e) => qubeFiles(e, version));
  for (const e of [...qubes, ...(dom0 ? [dom0] : [])]) o.log('qubesadmin.backup', `-> ${o.verifyOnly ? 'Verifying' : 'Restoring'} ${e.name}...`);
  const total = todo.reduce((s, e) => s + e.size, 0);
  let done = 0;
  const count = (n: number) => {
    done += n;
    o.progress?.(done, total);
  };
  o.log('qubesadmin.backup', `Extracting data: ${(total / 1024 ** 3).toFixed(1)} GiB to restore`);

  // Records in a private copy of the store: the volumes (vids, pools) restored data goes to.
  const draft = o.store.read();
  // qvm-device's checks for the assignments (assign uses the PCI view of sysfs and the events only)
  const devices = deviceServices(draft, hostRoots(o.env), o.env);
  const pools = new PoolSet(draft, storageContext(o.env));
  const naming = volumeNaming(pools.ctx);
  const records = o.verifyOnly ? new Map<string, QubesVM>() : addRestoredRecords(draft, qubes, devices, naming, warn);
  const storages = new Map<string, QubeStorage>();
  for (const [name, vm] of records) storages.set(name, await pools.qube(vm));
  const restoredSizes = new Map<string, Map<string, number>>();
  const smalls = new Map<string, Map<string, Buffer>>();

  /** Volume members begun, and read whole (verified or imported). */
  const begun = new Set<string>();
  const extracted = new Set<string>();
  const volumeHandler = (f: QubeFiles, member: string, volName: string): MemberHandler => ({
    async open(entry) {
      // format 3: a volume may come alone or in its qube's directory archive, but once
      if (begun.has(member)) throw new BackupError(`Unexpected file in archive: ${member} appears twice`);
      begun.add(member);
      const sink = await volumeSink(f, member, volName, entry.size);
      return { write: (d, at) => sink.write(d, at), close: async () => void (await sink.close(), extracted.add(member)), abort: () => sink.abort() };
    },
  });
  const volumeSink = async (f: QubeFiles, member: string, volName: string, size: number): Promise<MemberSink> => {
    if (o.verifyOnly) return { write: (d) => count(d.length), close() {}, abort() {} };
    const qs = storages.get(f.entry.restoreName) as QubeStorage;
    const qv = qs.get(volName);
    if (!qv || !qv.volume.saveOnStop) {
      warn(`${f.entry.restoreName} has no persistent volume ${volName} on this host; ${member} not restored`);
      return { write: (d) => count(d.length), close() {}, abort() {} };
    }
    return importSink(qv, size, f.entry.restoreName, volName, txn, restoredSizes, count);
  };
  const smallHandler = (f: QubeFiles, member: string): MemberHandler => ({
    async open() {
      const sink = new MemorySink(SMALL_MAX);
      let m = smalls.get(f.entry.restoreName);
      if (!m) smalls.set(f.entry.restoreName, (m = new Map()));
      const kind = f.extra.get(member) as string;
      return { write: (d) => sink.write(d), close: () => void (m as Map<string, Buffer>).set(kind, sink.data), abort() {} };
    },
  });

  const route = archiveRoute(backupApp, files, dom0 !== undefined, version);

  const compression = archive.header.compressed ? archive.header.compressionFilter : null;
  const openssl = version === 3 && archive.header.encrypted ? o.passphrase : undefined;
  let current: { base: string; file: ChunkConsumer } | undefined;
  const finish = async () => {
    const c = current;
    current = undefined;
    if (c) await c.file.end();
  };
  const startFile = (base: string): ChunkConsumer => {
    if (dom0 && base === dom0.subdir) return new HomeExtract(base, compression, openssl, o.verifyOnly, o.home, txn, count, o.signal);
    const f = files.find((x) => fileOf(x, base));
    if (!f) throw new BackupError(`internal: no qube for ${base}`);
    return new InnerFile({
      base,
      compression,
      opensslPassphrase: openssl,
      directory: base === f.directoryArchive ? base.slice(0, -1) : undefined,
      signal: o.signal,
      handler: (name) => {
        const vol = f.volumes.get(name);
        if (vol !== undefined) return volumeHandler(f, name, vol);
        if (f.extra.has(name)) return smallHandler(f, name);
        return undefined;
      },
    });
  };

  try {
    for await (const chunk of archive.chunks(route)) {
      cancelCheck(o.signal);
      if (current?.base !== chunk.base) {
        await finish();
        current = { base: chunk.base, file: startFile(chunk.base) };
      }
      for await (const part of chunk.parts) await current.file.push(part);
    }
    await finish();
  } catch (e) {
    await current?.file.fail(e);
    throw e;
  }
  cancelCheck(o.signal);
  // every planned qube must have had each of its volumes, read whole from an inner archive (any format)
  for (const f of files) {
    const missing = [...f.volumes.keys()].filter((m) => !extracted.has(m));
    if (missing.length) throw new BackupError(`The backup is incomplete: ${missing.join(', ')} of ${f.entry.name} missing from the archive`);
  }
  if (dom0 && !archive.seen.has(dom0.subdir)) throw new BackupError(`The backup is incomplete: dom0 home ${dom0.subdir} missing from the archive`);

  if (o.verifyOnly) {
    o.log('qubesadmin.backup', '-> Done.');
    return { restored: [], verified: todo.map((e) => e.name), declined: false, warnings };
  }

  const made = await commitRestore({ store: o.store, draft, qubes, devices, naming, records, storages, restoredSizes, smalls, txn, warn });
  for (const e of todo) if (e.klass === 'AdminVM') made.push('dom0');
  o.log('qubesadmin.backup', '-> Done.');
  if (qubes.some((e) => e.klass === 'TemplateVM')) o.log('qubesadmin.backup', '-> Please install updates for all the restored templates.');
  return { restored: made, verified: [], declined: false, warnings };
}

