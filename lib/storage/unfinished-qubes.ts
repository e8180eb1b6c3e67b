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

/**
 * Act on the record of a dead command (we hold its name): remove what it
 * made unless the store has its qube, then delete the record. Returns what
 * was done, for the user.
 */
async function recoverRecord(store: Store, file: string, ctx: StorageContext): Promise<string[]> {
  const r = readRecord(file);
  const app = store.read();
  const notes: string[] = [];
  if (app.domains.all().some((vm) => vm.uuid === r.uuid)) {
    // finished (a create published, or a remove that never reached the store)
  } else if (app.domains.get(r.name)) {
    notes.push(`an interrupted command left a record for ${r.name}, now another qube's name: its volumes were left alone`);
  } else {
    const what = r.action === 'create' ? `removed what an interrupted creation of ${r.name} had made` : `finished the interrupted removal of ${r.name}`;
    const problems = await removeRecordedData(r, app, ctx);
    notes.push(problems.length ? `${what}, with problems: ${problems.join('; ')}` : what);
  }
  removeFile(file);
  return notes;
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
    if (e instanceof StoreLockError && /^Timed out/.test(e.message)) return undefined;
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
    const release = await tryHold(store, name);
    if (!release) throw new QubesError(`Another command (${holderOf(store, name)}) is creating or removing qube ${name}; try again when it has finished`);
    try {
      removeRecordTemps(store, name);
      const file = recordFile(store, name);
      const notes = fs.existsSync(file) ? await recoverRecord(store, file, ctx) : [];
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

  /** Remove the volumes and directory of the record written (a create's rollback, a remove's data); returns the problems. */
  async removeData(app: Qubes, ctx: StorageContext): Promise<string[]> {
    return this.record ? removeRecordedData(this.record, app, ctx) : [];
  }

  /** The work is over (the store says so): the record goes, the name is free. */
  async close(): Promise<void> {
    try {
      removeFile(recordFile(this.store, this.name));
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
    let valid = true;
    try {
      validateVmName(name);
    } catch {
      valid = false;
    }
    if (!valid) continue;
    const release = await tryHold(store, name);
    if (!release) continue;
    try {
      removeRecordTemps(store, name);
      const file = recordFile(store, name);
      if (fs.existsSync(file)) notes.push(...(await recoverRecord(store, file, ctx)));
    } catch (e) {
      notes.push((e as Error).message);
    } finally {
      await release();
    }
  }
  return notes;
}
