// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Adding, removing and changing storage pools, and what `qvm-pool info`
 * reports about one.
 *
 * Add: the record is checked by the driver (unknown or missing options),
 * the host must have what its volumes need to start (`checkHost()`: the
 * file driver's device-mapper; not in offline mode), `setup()` prepares
 * the pool (directories, the reflink check, a callback's pre_setup) before the
 * store update, and the record is saved with the driver's attributes in
 * the reference's order. Remove: refused while a volume or a
 * `default_pool*` property uses the pool; no data is deleted (the
 * reference does not call destroy() either).
 *
 * Reference: qubes-core-admin: qubes/app.py add_pool / remove_pool,
 * qubes/api/admin.py pool_*; spec storage.md §4, §5.
 */
import { Pool, type Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { QubesPoolInUseError, QubesValueError, StoragePoolError } from '../errors.js';
import { volumeAttr } from '../vm/volume-config.js';
import { DRIVER_CONFIG_KEYS, DRIVER_PARAMETERS, isDriverName } from './driver-names.js';
import { poolOptionProblems, type StorageContext } from './pool.js';
import { openPool } from './pools.js';
import type { PoolSet } from './qube-storage.js';
import { parseQubesBool } from './volume.js';

const POOL_NAME = /^[A-Za-z0-9._-]+$/;

/** The defaults the reference writes for options not given. */
const DEFAULTS: Record<string, string> = { revisions_to_keep: '1', ephemeral_volatile: 'False', snap_on_start_forensics: 'False' };

/** `KEY=VALUE` words to pairs (first `=` splits). @throws QubesValueError */
export function parseOptions(words: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const w of words) {
    const i = w.indexOf('=');
    if (i <= 0) throw new QubesValueError(`Invalid option '${w}': expected KEY=VALUE`);
    const key = w.slice(0, i);
    if (out.some(([k]) => k === key)) throw new QubesValueError(`Option ${key} given twice`);
    out.push([key, w.slice(i + 1)]);
  }
  return out;
}

function validateSetting(key: string, value: string): string {
  if (key === 'revisions_to_keep') {
    if (!/^-?\d+$/.test(value) || Number(value) < -1) throw new QubesValueError(`Invalid value for revisions_to_keep: '${value}' (an integer >= -1)`);
    return String(Number(value));
  }
  if (key === 'ephemeral_volatile' || key === 'setup_check' || key === 'snap_on_start_forensics') return parseQubesBool(value, key) ? 'True' : 'False';
  return value;
}

/** The record a new pool gets: the driver's attributes in order, defaults filled in, setup_check kept for setup only. */
function newRecord(name: string, driver: string, options: [string, string][]): Pool {
  if (!isDriverName(driver)) throw new StoragePoolError(`unknown driver '${driver}'`);
  const { unexpected } = poolOptionProblems(driver, options.map(([k]) => k));
  if (unexpected.length) throw new StoragePoolError(`Unexpected driver options found: ${unexpected.join(', ')}`);
  const given = new Map(options.map(([k, v]) => [k, validateSetting(k, v)]));
  const attrs: [string, string][] = [];
  for (const k of DRIVER_CONFIG_KEYS[driver]) {
    const v = k === 'name' ? name : k === 'driver' ? driver : (given.get(k) ?? DEFAULTS[k]);
    if (v !== undefined) attrs.push([k, v]);
  }
  if (given.has('setup_check')) attrs.push(['setup_check', given.get('setup_check') as string]);
  return new Pool(attrs);
}

/** @throws StoragePoolError, QubesValueError */
export async function addPool(store: Store, storage: StorageContext, name: string, driver: string, options: [string, string][]): Promise<void> {
  if (!POOL_NAME.test(name)) throw new QubesValueError(`Invalid pool name '${name}': use letters, digits, '.', '_' and '-'`);
  if (store.read().pools.has(name)) throw new StoragePoolError(`pool named ${name} already exists`);
  const record = newRecord(name, driver, options);
  const pool = await openPool(record, { ...storage, offline: store.read().vmm.offline });
  await pool.checkHost();
  await pool.setup();
  await store.update((app) => {
    if (app.pools.has(name)) throw new StoragePoolError(`pool named ${name} already exists`);
    app.pools.set(name, new Pool(pool.config()));
  });
}

/** Who uses a pool: volumes of qubes and default_pool* properties. */
export function poolUsers(app: Qubes, name: string): string[] {
  const users: string[] = [];
  for (const prop of ['default_pool', 'default_pool_kernel', 'default_pool_private', 'default_pool_root', 'default_pool_volatile'])
    if (app.props.get(prop) === name) users.push(`set as ${prop}`);
  for (const vm of app.domains.all())
    for (const v of vm.volumeConfig) if (volumeAttr(v, 'pool') === name) users.push(`volume ${volumeAttr(v, 'name')} of ${vm.name}`);
  return users;
}

/** @throws StoragePoolError (no such pool), QubesPoolInUseError */
export async function removePool(store: Store, name: string): Promise<void> {
  await store.update((app) => {
    if (!app.pools.has(name)) throw new StoragePoolError(`No such pool ${name}`);
    const users = poolUsers(app, name);
    if (users.length) throw new QubesPoolInUseError(`Storage pool is in use: ${users.slice(0, 3).join(', ')}${users.length > 3 ? `, and ${users.length - 3} more` : ''}`);
    app.pools.delete(name);
  });
}

/** The options `qvm-pool set` may change (properties of a pool, not of its driver). */
export const SETTABLE = ['revisions_to_keep', 'ephemeral_volatile'];

/**
 * The driver checks the changed record before it is saved (the file
 * driver keeps at most one revision), as the reference's setters do.
 * @throws StoragePoolError for an option that cannot be set or a value the driver refuses, QubesValueError for a bad value
 */
export async function setPoolOption(store: Store, storage: StorageContext, name: string, key: string, value: string): Promise<void> {
  if (!SETTABLE.includes(key)) throw new StoragePoolError(`Setting option ${key} is not supported for pool ${name}`);
  const v = validateSetting(key, value);
  await store.update(async (app) => {
    const record = app.pools.get(name);
    if (!record) throw new StoragePoolError(`No such pool ${name}`);
    if (!isDriverName(record.driver) || !DRIVER_PARAMETERS[record.driver].some((p) => p.name === key))
      throw new StoragePoolError(`Setting option ${key} is not supported for pool ${name}`);
    const attrs = record.attrs.map(([k, old]): [string, string] => [k, k === key ? v : old]);
    if (!record.attrs.some(([k]) => k === key)) attrs.push([key, v]);
    await openPool(new Pool(attrs), { ...storage, offline: app.vmm.offline });
    app.pools.set(name, new Pool(attrs));
  });
}

/** A pool as `qvm-pool info --format json` shows it: typed, every key present (null where none). */
export interface PoolFacts {
  name: string;
  driver: string;
  size: number | null;
  usage: number | null;
  included_in: string | null;
  /** Null for a driver without the setting (linux-kernel, callback). */
  revisions_to_keep: number | null;
  ephemeral_volatile: boolean | null;
  /** The pool's other saved attributes (dir_path, volume_group, thin_pool, container, conf_id, ...), as in qubes.xml. */
  options: Record<string, string>;
}

const TYPED_ATTRS = new Set(['name', 'driver', 'revisions_to_keep', 'ephemeral_volatile']);

/** What `poolInfo` says, with the driver's typed values. */
export async function poolFacts(pools: PoolSet, name: string): Promise<PoolFacts> {
  const pool = await pools.get(name);
  const params = isDriverName(pool.record.driver) ? DRIVER_PARAMETERS[pool.record.driver].map((p) => p.name) : [];
  const space = await pool.space();
  return {
    name,
    driver: pool.record.driver,
    size: space.size ?? null,
    usage: space.usage ?? null,
    included_in: pool.includedIn(await pools.all())?.name ?? null,
    revisions_to_keep: params.includes('revisions_to_keep') ? pool.revisionsToKeep : null,
    ephemeral_volatile: params.includes('ephemeral_volatile') ? pool.ephemeralVolatile : null,
    options: Object.fromEntries(pool.record.attrs.filter(([k]) => !TYPED_ATTRS.has(k))),
  };
}

/**
 * `admin.pool.Info` of a pool: its attributes, then size and usage when
 * known and the pool holding it. Keys sorted; `name` first (as qvm-pool prints).
 */
export async function poolInfo(pools: PoolSet, name: string): Promise<[string, string][]> {
  const pool = await pools.get(name);
  const rows = new Map<string, string>(pool.record.attrs.filter(([k]) => k !== 'name'));
  const space = await pool.space();
  if (space.size !== undefined) rows.set('size', String(space.size));
  if (space.usage !== undefined) rows.set('usage', String(space.usage));
  const container = pool.includedIn(await pools.all());
  if (container) rows.set('included_in', container.name);
  return [['name', name], ...[...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
}
