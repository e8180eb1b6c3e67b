// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qubes being made or removed outside the store lock, recorded so that
 * whatever a killed command made is removed by the next command, and so
 * that no two commands make or remove volumes under one name at once.
 *
 * Beside the store, in `qubes.xml.unfinished/`:
 *   NAME.lock/   held by the command working on qube NAME (the store
 *                lock's mechanism, lib/app/store-lock.ts: pid and process
 *                start time, so a killed holder's lock is taken over at once)
 *   NAME.json    what that command is doing: create or remove, the qube's
 *                uuid and class, and every volume (pool and settings);
 *                written (fsynced) before the first volume is made, or
 *                before the store update that drops the qube, and deleted
 *                when the store says what it says at the end
 *
 * The rule, applied before every create, clone and remove (and by
 * `qvm-remove NAME` for a name only such a record knows): a record whose
 * lock can be taken is a dead command's. If the store has a qube with the
 * record's uuid, that command got through (its new qube is whole) or never
 * got there (the qube it was removing is still whole): the record is just
 * deleted. Otherwise the recorded volumes and the qube's directory are
 * removed, then the record. A live command's record is left alone, and its
 * name is refused to others meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import type { Release } from '../app/store-lock.js';
import { QubesError, StoreLockError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { validateVmName } from '../vm/names.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { removeFile, replaceFile, tempLeftovers } from './durable-fs.js';
import type { StorageContext } from './pool.js';
import { PoolSet, QubeStorage, type QubeVolume } from './qube-storage.js';
import { settingsFromConfig, type VolumeSettings } from './volume.js';

export interface UnfinishedQube {
  action: 'create' | 'remove';
  name: string;
  klass: string;
  uuid: string;
  volumes: VolumeSettings[];
}

/** The record of a qube about to be made or removed: its identity and volumes. */
export function unfinishedRecord(action: UnfinishedQube['action'], vm: QubesVM): UnfinishedQube {
  return {
    action,
    name: vm.name,
    klass: vm.klass,
    uuid: vm.uuid ?? '',
    volumes: vm.volumeConfig.map((c) => settingsFromConfig(c)),
  };
}

const journalDir = (store: Store) => `${store.file}.unfinished`;
const recordFile = (store: Store, name: string) => path.join(journalDir(store), `${name}.json`);

/** @throws QubesError when the file is not a record this code wrote */
function readRecord(file: string): UnfinishedQube {
  let r: UnfinishedQube;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as UnfinishedQube;
    validateVmName(r.name);
    const ok =
      (r.action === 'create' || r.action === 'remove') &&
      typeof r.klass === 'string' &&
      typeof r.uuid === 'string' &&
      Array.isArray(r.volumes) &&
      r.volumes.every((v) => typeof v?.pool === 'string' && typeof v.vid === 'string' && typeof v.name === 'string');
    if (!ok || path.basename(file) !== `${r.name}.json`) throw new Error('unexpected content');
  } catch (e) {
    throw new QubesError(`Cannot read ${file}: ${ioReason(e)}`);
  }
  return r;
}

/**
 * Remove the recorded volumes (each under its volume lock, leftovers
 * included) and the qube's directory. Returns the problems.
 */
async function removeRecordedData(r: UnfinishedQube, app: Qubes, ctx: StorageContext): Promise<string[]> {
  const problems: string[] = [];
  const pools = new PoolSet(app, ctx);
  const owner = { name: r.name, klass: r.klass };
  const volumes: QubeVolume[] = [];
  for (const s of r.volumes) {
    try {
      const pool = await pools.get(s.pool);
      volumes.push({ volume: pool.initVolume(s, owner), pool });
    } catch (e) {
      problems.push(`cannot remove volume ${s.name} of ${r.name}: ${(e as Error).message}`);
    }
  }
  problems.push(...(await new QubeStorage(r.name, volumes, ctx).removeData()));
  const dir = qubeDirPath(app.baseDir, owner);
  try {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    problems.push(`cannot remove ${dir}: ${ioReason(e)}`);
  }
  return problems;
}

/** What applying the rule to a record did. */
interface Settled {
  /** Its volumes and directory were removed (the store does not have its qube). */
  removed: boolean;
  problems: string[];
}

/**
 * The rule (see the module comment), for a record whose name we hold: the
 * store has its qube (same uuid), so nothing is touched; another qube has
 * its name, so its volumes are that qube's and are left alone; or its
 * volumes and directory are removed. The record is deleted in every case.
 */
async function applyRule(store: Store, r: UnfinishedQube, ctx: StorageContext): Promise<Settled> {
  const app = store.read();
  let settled: Settled = { removed: false, problems: [] };
  if (app.domains.all().some((vm) => vm.uuid === r.uuid)) {
    // a create that was saved, or a remove that never reached the store: the qube is whole
  } else if (app.domains.get(r.name)) {
    settled.problems.push(`a record of ${r.name} belongs to another qube of that name now: its volumes were left alone`);
  } else {
    settled = { removed: true, problems: await removeRecordedData(r, app, ctx) };
  }
  removeFile(recordFile(store, r.name));
  return settled;
}

/** A dead command's record of `name` (we hold the name), settled by the rule; what was done, for the user. */
async function recoverRecord(store: Store, name: string, ctx: StorageContext): Promise<string[]> {
  const r = readRecord(recordFile(store, name));
  const { removed, problems } = await applyRule(store, r, ctx);
  if (!removed) return problems;
  const what = r.action === 'create' ? `removed what an interrupted creation of ${r.name} had made` : `finished the interrupted removal of ${r.name}`;
  return [problems.length ? `${what}, with problems: ${problems.join('; ')}` : what];
}

/** The pid of a live holder of `name`, for the message. */
function holderOf(store: Store, name: string): string {
  try {
    return `process ${fs.readFileSync(path.join(journalDir(store), `${name}.lock`, 'owner'), 'utf8').split(' ')[0]}`;
  } catch {
    return 'another process';
  }
}

/** Hold `name` without waiting: undefined while a live command holds it. */
async function tryHold(store: Store, name: string): Promise<Release | undefined> {
  const dir = journalDir(store);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o775 });
  } catch (e) {
    throw new QubesError(`Cannot create ${dir}: ${ioReason(e)}`);
  }
  const { lockStore } = await import('../app/store-lock.js');
  try {
    return await lockStore(path.join(dir, name), 0);
  } catch (e) {
    // not had at once while its lock directory is there: held by a live command
    if (e instanceof StoreLockError && fs.existsSync(path.join(dir, `${name}.lock`))) return undefined;
    throw e;
  }
}

/** Temporary files of a record write that a killed command left (we hold the name). */
function removeRecordTemps(store: Store, name: string): void {
  for (const t of tempLeftovers(journalDir(store), (target) => target === `${name}.json`)) removeFile(t);
}

/**
 * The right to make or remove the volumes of qube `name`, held from before
 * the first volume is touched until the store is final.
 */
export class QubeClaim {
  private record: UnfinishedQube | undefined;

  private constructor(
    private readonly store: Store,
    readonly name: string,
    private readonly release: Release,
    /** What was done about a killed command's record of this name (for the user). */
    readonly notes: string[],
  ) {}

  /**
   * Hold `name`; a dead command's record of it is acted on first.
   * @throws QubesError while another command works on that name
   */
  static async take(store: Store, name: string, ctx: StorageContext): Promise<QubeClaim> {
    const claim = await QubeClaim.tryTake(store, name, ctx);
    if (!claim) throw new QubesError(`Another command (${holderOf(store, name)}) is creating or removing qube ${name}; try again when it has finished`);
    return claim;
  }

  /** As take, but undefined while another command works on that name. */
  static async tryTake(store: Store, name: string, ctx: StorageContext): Promise<QubeClaim | undefined> {
    const release = await tryHold(store, name);
    if (!release) return undefined;
    try {
      removeRecordTemps(store, name);
      const notes = fs.existsSync(recordFile(store, name)) ? await recoverRecord(store, name, ctx) : [];
      return new QubeClaim(store, name, release, notes);
    } catch (e) {
      await release();
      throw e;
    }
  }

  /** Record what is about to happen, durably, before the first volume is made or the store changed. */
  async write(record: UnfinishedQube): Promise<void> {
    await replaceFile(recordFile(this.store, this.name), (tmp) => fs.writeFileSync(tmp, `${JSON.stringify(record)}\n`), 0o640);
    this.record = record;
  }

  /**
   * The work is over, whichever way: the rule decides from what the store
   * now says (a saved create keeps its volumes, anything else written is
   * removed; a removed qube's volumes go), the record is deleted and the
   * name released. Returns the problems met removing volumes.
   */
  async settle(ctx: StorageContext): Promise<string[]> {
    try {
      return this.record ? (await applyRule(this.store, this.record, ctx)).problems : [];
    } finally {
      await this.release();
    }
  }
}

/** Names that have a record of an unfinished create or remove (live or dead). */
export function unfinishedNames(store: Store): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(journalDir(store));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
}

/**
 * Apply the rule to every record of a dead command (live ones are left
 * alone). Returns what was done, for the user.
 */
export async function recoverUnfinished(store: Store, ctx: StorageContext): Promise<string[]> {
  const notes: string[] = [];
  for (const name of unfinishedNames(store)) {
    try {
      validateVmName(name);
    } catch {
      continue; // not a record of ours
    }
    try {
      const claim = await QubeClaim.tryTake(store, name, ctx);
      if (!claim) continue;
      notes.push(...claim.notes);
      await claim.settle(ctx);
    } catch (e) {
      // an unreadable record stays, and is reported each time
      notes.push((e as Error).message);
    }
  }
  return notes;
}
