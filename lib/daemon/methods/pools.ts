// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.pool.List, ListDrivers (`DRIVER OPTION...` per line), Info (the
 * pool's configuration sorted by key, then size, usage and the pool that
 * holds it, when known), UsageDetails (`data_size`, `data_usage` and the
 * driver's own figures, sorted, known ones only), volume.List (the vids in
 * the pool); and the changes, over the same functions as qvm-pool
 * (lib/storage/pool-admin.ts): Add (the driver as argument, `KEY=VALUE`
 * lines with the pool's `name` as payload), Remove, Set.revisions_to_keep
 * and Set.ephemeral_volatile. The checks of the request come first, in the
 * reference's order and classes; what the library refuses after them is
 * said in qvm-pool's words.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (pool_*).
 */
import { ProtocolError, PermissionDenied, QubesError, QubesPoolInUseError } from '../../errors.js';
import { DRIVER_NAMES, DRIVER_PARAMETERS } from '../../storage/driver-names.js';
import { poolOptionProblems } from '../../storage/pool.js';
import { addPool, removePool, setPoolOption } from '../../storage/pool-admin.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet } from '../../storage/qube-storage.js';
import { volumeAttr } from '../../vm/volume-config.js';
import { validateBool } from '../bool-payload.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { validateNumber } from '../number-arg.js';

const global = { scope: 'global', destAdminvm: true } as const;

/** The reference's refusal of an argument outside the allowed set (AbstractQubesAPI.enforce_arg); the argument, as one of them. */
export function enforceArg<T extends string>(call: Call, allowed: Iterable<T>, what: string): T {
  for (const a of allowed) if (a === call.arg) return a;
  throw new PermissionDenied(`Argument not in '${what}'`);
}

/** The pool the argument names, after the reference's check that it is one. */
async function poolOf(call: Call, pools = new PoolSet(call.app, storageContext(call.services.env))) {
  enforceArg(call, call.app.pools.keys(), 'pools');
  return pools.get(call.arg);
}

const lines = (rows: Iterable<string>) => [...rows].map((r) => `${r}\n`).join('');

async function poolInfo(call: Call): Promise<string> {
  const pools = new PoolSet(call.app, storageContext(call.services.env));
  const pool = await poolOf(call, pools);
  const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);
  let out = [...pool.record.attrs].sort(byKey).map(([k, v]) => `${k}=${v}\n`).join('');
  const space = await pool.space();
  if (space.size !== undefined) out += `size=${space.size}\n`;
  if (space.usage !== undefined) out += `usage=${space.usage}\n`;
  const container = pool.includedIn(await pools.all());
  if (container) out += `included_in=${container.name}\n`;
  return out;
}

/**
 * The pool's volumes as the reference lists them: those the qubes'
 * configurations name, in the store's order, then any other the driver
 * finds (left behind by a qube that is gone). The kernel pool lists the
 * kernels installed only: a qube's `kernel` names one, or none.
 */
async function poolVolumes(call: Call): Promise<string> {
  const pool = await poolOf(call);
  const vids = new Set<string>();
  if (pool.driver !== 'linux-kernel')
    for (const vm of call.app.domains.all())
      for (const cfg of vm.klass === 'AdminVM' ? [] : vm.volumeConfig) if (volumeAttr(cfg, 'pool') === pool.name) vids.add(volumeAttr(cfg, 'vid') ?? '');
  for (const vid of await pool.listVolumes()) vids.add(vid);
  return lines(vids);
}

/** Python's str.splitlines of an ASCII text: any of its line breaks, no empty line after the last one. */
function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e]/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

const POOL_NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';

/** Add's payload: `KEY=VALUE` lines, unique keys, one of them `name` (safe characters). @throws ProtocolError */
function poolConfig(untrusted: Buffer): { name: string; options: [string, string][] } {
  const text = untrusted.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError('Pool parameters contains non-ASCII characters');
  const lines = splitLines(text);
  if (!lines.every((l) => l.includes('='))) throw new ProtocolError('Options must be separated by equal sign');
  const pairs = lines.map((l): [string, string] => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
  if (new Set(pairs.map(([k]) => k)).size !== pairs.length) throw new ProtocolError('Options must be unique');
  const name = pairs.find(([k]) => k === 'name')?.[1];
  if (name === undefined) throw new ProtocolError('Pool configuration must contain key: name');
  if (![...name].every((c) => POOL_NAME_CHARS.includes(c))) throw new ProtocolError(`Pool name must be in safe set: ${POOL_NAME_CHARS}`);
  return { name, options: pairs.filter(([k]) => k !== 'name') };
}

async function poolAdd(call: Call): Promise<void> {
  const driver = enforceArg(call, DRIVER_NAMES, 'available drivers');
  const { name, options } = poolConfig(call.payload);
  const { unexpected, missing } = poolOptionProblems(driver, options.map(([k]) => k));
  if (unexpected.length) throw new ProtocolError('Unexpected driver options found');
  if (missing.length) throw new QubesError(`missing required driver options: ${missing.join(' ')}`);
  // the reference refuses a name in use this way (and addPool checks again under the lock)
  if (call.app.pools.has(name)) throw new QubesPoolInUseError(`Storage pool is in use: '${name}'`);
  await addPool(call.services.store, storageContext(call.services.env), name, driver, options);
}

async function poolRemove(call: Call): Promise<void> {
  enforceArg(call, call.app.pools.keys(), 'pools');
  await removePool(call.services.store, call.arg);
}

async function setRevisionsToKeep(call: Call): Promise<void> {
  enforceArg(call, call.app.pools.keys(), 'pools');
  const n = validateNumber(call.payload, 'revisions to keep', true);
  if (n < -1) throw new ProtocolError("Value can't be lower than -1");
  await setPoolOption(call.services.store, storageContext(call.services.env), call.arg, 'revisions_to_keep', String(n));
}

async function setEphemeralVolatile(call: Call): Promise<void> {
  enforceArg(call, call.app.pools.keys(), 'pools');
  const on = validateBool(call.payload);
  await setPoolOption(call.services.store, storageContext(call.services.env), call.arg, 'ephemeral_volatile', on ? 'True' : 'False');
}

export const POOL_METHODS: MethodDecl[] = [
  method('admin.pool.List', { ...global, wantsArg: false, wantsPayload: false }, (call) => [...call.app.pools.keys()].map((p) => `${p}\n`).join('')),
  method('admin.pool.ListDrivers', { ...global, wantsArg: false, wantsPayload: false }, () =>
    DRIVER_NAMES.map((d) => `${d} ${DRIVER_PARAMETERS[d].map((p) => p.name).join(' ')}\n`).join(''),
  ),
  method('admin.pool.Info', { ...global, wantsArg: true, wantsPayload: false }, poolInfo),
  method('admin.pool.UsageDetails', { ...global, wantsArg: true, wantsPayload: false }, async (call) => {
    const { details } = await (await poolOf(call)).space();
    return lines(Object.keys(details).sort().map((k) => `${k}=${details[k]}`));
  }),
  method('admin.pool.Add', { ...global, wantsArg: true, wantsPayload: true, write: true }, poolAdd),
  method('admin.pool.Remove', { ...global, wantsArg: true, wantsPayload: false, write: true }, poolRemove),
  method('admin.pool.volume.List', { ...global, wantsArg: true, wantsPayload: false }, poolVolumes),
  method('admin.pool.Set.revisions_to_keep', { ...global, wantsArg: true, wantsPayload: true, write: true }, setRevisionsToKeep),
  method('admin.pool.Set.ephemeral_volatile', { ...global, wantsArg: true, wantsPayload: true, write: true }, setEphemeralVolatile),
];
