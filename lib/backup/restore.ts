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
 * Reference: qubesadmin/backup/restore.py BackupRestore; spec §4.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import { loadQubesXml } from '../app/qubes-xml-read.js';
import type { Store } from '../app/store.js';
import { DeviceEnumerator } from '../devices/enumerate.js';
import { DeviceEvents } from '../devices/events.js';
import type { DeviceServices } from '../devices/operations.js';
import { VmmLiveDevices } from '../devices/runtime.js';
import { hostRoots } from '../config.js';
import { BackupCancelledError, BackupError, QubesError } from '../errors.js';
import { parseFirewallXml } from '../firewall/firewall-xml.js';
import { firewallPath, saveRules } from '../firewall/firewall-file.js';
import { writeSparse } from '../storage/copy-data.js';
import { createDir } from '../storage/durable-fs.js';
import { PoolSet, type QubeStorage, type QubeVolume } from '../storage/qube-storage.js';
import { storageContext, volumeNaming } from '../storage/pools.js';
import { ioReason } from '../util/io-error.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { settingsFromConfig } from '../storage/volume.js';
import { volumeAttr } from '../vm/volume-config.js';
import { BackupArchive, type Chunk, type Route } from './archive-reader.js';
import { decompress, programInstalled, throughProgram } from './compression.js';
import { ChunkConsumer, InnerFile, opensslDecrypt, type MemberHandler, type MemberSink } from './inner-file.js';
import { convertR3Store } from './r3-store.js';
import { addRestoredRecords, checkBackupQube } from './restore-records.js';
import { makePlan, planSummary, restorable, type PlanEntry, type PlanOptions } from './restore-plan.js';
import { ByteSource } from './byte-source.js';
import { partialName, removeDeadPartials } from './partial-name.js';
import { TarReader } from './tar-reader.js';

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
  /** The summary table (stdout). */
  summary: (text: string) => void;
  /** Ask to proceed (false: stop without error). */
  confirm: () => boolean;
  /** Bytes of restored data, of the total expected. */
  progress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** dom0 home parent of home-restore-* (default: QUBES_DOM0_HOME or the home directory). */
  home: string;
  maxKdfMemory?: number;
}

export interface RestoreResult {
  restored: string[];
  declined: boolean;
  warnings: string[];
}

const SMALL_MAX = 16 * 1024 * 1024;

/** Small inner files in memory (qubes.xml, firewall.xml, notes.txt, empty). */
class MemorySink implements MemberSink {
  parts: Buffer[] = [];
  size = 0;
  constructor(private readonly limit: number) {}
  write(data: Buffer): void {
    this.size += data.length;
    if (this.size > this.limit) throw new BackupError(`file too large in backup (${this.size} bytes)`);
    this.parts.push(Buffer.from(data));
  }
  close(): void {}
  abort(): void {}
  get data(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The data of one small file of the backup, decrypted, decompressed and unpacked. */
async function smallFile(chunks: Chunk[], member: string, archive: BackupArchive, passphrase: string, signal?: AbortSignal): Promise<Buffer> {
  const sink = new MemorySink(SMALL_MAX);
  const f = new InnerFile({
    base: member,
    compression: archive.header.compressed ? archive.header.compressionFilter : null,
    opensslPassphrase: archive.version === 3 && archive.header.encrypted ? passphrase : undefined,
    handler: (name) => (name === member ? { open: async () => sink } : undefined),
    signal,
  });
  try {
    for (const c of chunks) await f.push(c.data);
    await f.end();
  } catch (e) {
    await f.fail(e);
    throw e;
  }
  return sink.data;
}

/** What a restore has made so far, to undo on failure; and what runs only after the store update. */
class Txn {
  /** Uncommitted imports and temporary directories, by key. */
  readonly pending = new Map<string, () => Promise<void>>();
  /** Undo of committed data (images in place, directories). */
  readonly committed: (() => Promise<void>)[] = [];
  /** After the records were added. */
  readonly finishers: (() => Promise<void>)[] = [];
  /** Per-qube directories import targets were made in (`appvms/NAME`): removed again when left empty. */
  readonly dirs = new Set<string>();

  async rollback(): Promise<void> {
    for (const undo of [...this.pending.values(), ...this.committed.reverse()]) await undo().catch(() => {});
    this.pending.clear();
    this.committed.length = 0;
    for (const d of this.dirs) removeIfEmpty(d);
  }
}

/** rmdir: a directory that is gone, or holds something, is left as it is. */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty, or already gone
  }
}

const cancelCheck = (signal?: AbortSignal) => {
  if (signal?.aborted) throw new BackupCancelledError('Restore cancelled', signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
};

/** Names of the files a qube's entry must have in the archive, and where they go. */
interface QubeFiles {
  entry: PlanEntry;
  /** inner member name → volume name */
  volumes: Map<string, string>;
  /** inner member name → kind of small file */
  extra: Map<string, 'firewall' | 'notes' | 'empty' | 'menu'>;
  /** Format 3: the file holding the qube's whole directory (`vm9/.`), which may hold the others. */
  directoryArchive?: string;
}

function qubeFiles(e: PlanEntry, version: number): QubeFiles {
  const f: QubeFiles = { entry: e, volumes: new Map(), extra: new Map() };
  if (version >= 4) {
    for (const c of e.vm.volumeConfig) {
      const s = settingsFromConfig(c);
      if (!s.saveOnStop) continue;
      const m = `${e.subdir}${s.name}.img`;
      f.volumes.set(m, s.name);
    }
    for (const [n, k] of [['firewall.xml', 'firewall'], ['notes.txt', 'notes'], ['empty', 'empty']] as const) f.extra.set(`${e.subdir}${n}`, k);
    return f;
  }
  // format 3: `<path>/private.img`, `root.img` of updateable qubes, maybe inside the directory archive `<path>/.`
  const p = e.subdir.replace(/\/$/, '');
  const vols = ['private'];
  if (e.klass === 'TemplateVM' || e.klass === 'StandaloneVM') vols.unshift('root');
  for (const v of vols) f.volumes.set(`${p}/${v}.img`, v);
  f.extra.set(`${p}/firewall.xml`, 'firewall');
  f.extra.set(`${p}/whitelisted-appmenus.list`, 'menu');
  f.directoryArchive = `${p}/.`;
  return f;
}

/** The restore: plan, confirmation, data, commit. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    o.log('qubesadmin.backup', m);
  };
  o.log('app', 'Checking backup content...');
  const archive = await BackupArchive.open(o.input, o.passphrase, { forcedFilter: o.forcedFilter, maxKdfMemory: o.maxKdfMemory, installed: (p) => programInstalled(p, o.env), signal: o.signal });
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
    o.summary('The following VMs are included in the backup:\n\n' + planSummary(plan) + '\n');
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
      return { restored: [], declined: true, warnings };
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
  const roots = hostRoots(o.env);
  // qvm-device's checks for the assignments (assign uses the PCI view of sysfs and the events only)
  const devices: DeviceServices = { enumerator: new DeviceEnumerator({ roots, vmm: draft.vmm, env: o.env }), live: new VmmLiveDevices(draft, draft.vmm, roots), events: new DeviceEvents() };
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

  // which file base belongs to which planned qube
  const layout = [...backupApp.domains.all()].filter((vm) => vm.features.get('backup-content') === '1' || vm.features.get('backup-content') === 'True');
  const paths = layout.map((vm) => ({ vm, path: vm.features.get('backup-path') ?? '' }));
  const byName = new Map(files.map((f) => [f.entry.name, f]));
  const route = (base: string): Route => {
    if (base === 'qubes.xml') return 'skip';
    for (const { vm, path: p } of paths) {
      if (vm.klass === 'AdminVM') {
        if (base === p) return dom0 ? 'read' : 'skip';
        continue;
      }
      const dir = version >= 4 ? p : `${p.replace(/\/$/, '')}/`;
      if (p === '' || !base.startsWith(dir)) continue;
      const rest = base.slice(dir.length);
      if (!/^[A-Za-z0-9._-]+$/.test(rest) || rest === '..' || (rest === '.' && version >= 4)) continue;
      const f = byName.get(vm.name);
      return f && fileOf(f, base) ? 'read' : 'skip';
    }
    throw new BackupError(`Unexpected file in archive: ${base} is outside the layout of this backup`);
  };

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
      await current.file.push(chunk.data);
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
    return { restored: [], declined: false, warnings };
  }

  // Everything verified: commit the imports, make the other volumes, add the records.
  const made: string[] = [];
  for (const [name, qs] of storages) {
    const sizes = restoredSizes.get(name) ?? new Map<string, number>();
    for (const volName of sizes.keys()) {
      const qv = qs.require(volName);
      txn.pending.delete(`${name}/${volName}`);
      txn.committed.push(() => qv.pool.remove(qv.volume));
      await qv.pool.importDataEnd(qv.volume, true);
    }
    txn.committed.push(async () => void (await qs.removeData()));
    await qs.create([...sizes.keys()]);
    const vm = records.get(name) as QubesVM;
    const dir = qubeDirPath(draft.baseDir, vm);
    if (dir) {
      createDir(dir);
      txn.committed.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    const small = smalls.get(name);
    const fw = small?.get('firewall');
    if (fw) {
      try {
        saveRules(firewallPath(draft.baseDir, vm), parseFirewallXml(fw.toString('utf8')), Date.now());
      } catch (e) {
        warn(`Firewall rules of ${name} not restored: ${(e as Error).message}`);
      }
    }
    const notes = small?.get('notes');
    if (notes && dir) fs.writeFileSync(path.join(dir, 'notes.txt'), notes, { mode: 0o644 });
    made.push(name);
  }
  const menus = new Map([...smalls].map(([n, m]) => [n, m.get('menu')?.toString('utf8')]));
  const vids = new Map([...records].map(([n, vm]) => [n, vm.volumeConfig.map((c) => `${volumeAttr(c, 'name')}=${volumeAttr(c, 'pool')}:${volumeAttr(c, 'vid')}`).join(',')]));
  await o.store.update((app) => {
    const added = addRestoredRecords(app, qubes, devices, naming, () => {}, restoredSizes);
    for (const [n, vm] of added) {
      const got = vm.volumeConfig.map((c) => `${volumeAttr(c, 'name')}=${volumeAttr(c, 'pool')}:${volumeAttr(c, 'vid')}`).join(',');
      if (got !== vids.get(n)) throw new QubesError(`The storage of ${n} changed while restoring (pools or defaults were changed); nothing restored`);
      const menu = menus.get(n);
      if (menu) vm.features.set('menu-items', menu.split('\n').map((l) => l.trim()).filter(Boolean).join(' '));
    }
  });
  txn.committed.length = 0;
  for (const f of txn.finishers) await f();
  for (const e of todo) if (e.klass === 'AdminVM') made.push('dom0');
  o.log('qubesadmin.backup', '-> Done.');
  if (qubes.some((e) => e.klass === 'TemplateVM')) o.log('qubesadmin.backup', '-> Please install updates for all the restored templates.');
  return { restored: made, declined: false, warnings };
}

/** Whether the archive file `base` is one a qube's restore reads: one of its files, or (format 3) its directory archive. */
const fileOf = (f: QubeFiles, base: string): boolean => f.volumes.has(base) || f.extra.has(base) || base === f.directoryArchive;

/** Import target of a volume: data written sparse; on close the size is recorded for the commit. */
async function importSink(
  qv: QubeVolume,
  size: number,
  qube: string,
  volName: string,
  txn: Txn,
  sizes: Map<string, Map<string, number>>,
  count: (n: number) => void,
): Promise<MemberSink> {
  const target = await qv.pool.importData(qv.volume, size);
  txn.pending.set(`${qube}/${volName}`, () => qv.pool.importDataEnd(qv.volume, false));
  // file pools make the qube's directory for the target; a restore that fails must not leave it
  if (path.basename(path.dirname(target)) === qube) txn.dirs.add(path.dirname(target));
  let fd: number | undefined;
  try {
    fd = fs.openSync(target, 'r+');
  } catch (e) {
    throw new BackupError(`Cannot open ${target}: ${ioReason(e)}`);
  }
  const closeFd = () => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  return {
    write(data, offset) {
      if (offset + data.length > size) throw new BackupError(`${qube}:${volName}: data beyond the volume size`);
      writeSparse(fd as number, data, offset);
      count(data.length);
    },
    close() {
      fs.fdatasyncSync(fd as number);
      closeFd();
      let m = sizes.get(qube);
      if (!m) sizes.set(qube, (m = new Map()));
      m.set(volName, size);
    },
    abort: closeFd,
  };
}

/**
 * dom0's home: the inner stream (a tar of `dom0-home/<user>/...`) goes to
 * GNU tar extracting into a hidden directory in the home (partial-name.ts:
 * what a killed restore left there is removed by the next one); after the
 * whole restore succeeded it becomes `home-restore-<time>`. Verify-only
 * reads it with our own tar reader.
 */
class HomeExtract extends ChunkConsumer {

  constructor(
    readonly base: string,
    compression: string | null,
    openssl: string | undefined,
    verifyOnly: boolean,
    home: string,
    txn: Txn,
    count: (n: number) => void,
    signal?: AbortSignal,
  ) {
    super();
    const now = new Date();
    const p = (n: number) => String(n).padStart(2, '0');
    const final = path.join(home, `home-restore-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`);
    const tmp = partialName(final);
    let stream: AsyncIterable<Buffer> = this.chan;
    if (openssl !== undefined) stream = opensslDecrypt(stream, openssl, `dom0 home ${base}`);
    stream = decompress(compression, stream, `dom0 home ${base}`);
    const counted = (async function* (s: AsyncIterable<Buffer>) {
      for await (const b of s) {
        count(b.length);
        yield b;
      }
    })(stream);
    if (verifyOnly) {
      this.start(
        (async () => {
          const r = new TarReader(new ByteSource(counted, signal), { what: `dom0 home ${base}` });
          while (await r.next());
        })(),
      );
    } else {
      removeDeadPartials(home);
      fs.mkdirSync(tmp, { mode: 0o700 });
      txn.pending.set('dom0-home', async () => fs.rmSync(tmp, { recursive: true, force: true }));
      this.start(
        (async () => {
          for await (const _ of throughProgram('tar', ['-x', '--no-same-owner', '-C', tmp, '--', base], counted, 'Extracting dom0 home'));
        })(),
      );
      txn.finishers.push(async () => {
        txn.pending.delete('dom0-home');
        fs.renameSync(tmp, final);
      });
    }
  }
}
