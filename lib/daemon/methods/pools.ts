// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.pool.List, ListDrivers (`DRIVER OPTION...` per line), Info (the
 * pool's configuration sorted by key, then size, usage and the pool that
 * holds it, when known). Adding, removing and changing pools, their usage
 * details and volume lists are declared for the second qubesd part.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (pool_*).
 */
import { PermissionDenied } from '../../errors.js';
import { DRIVER_NAMES, DRIVER_PARAMETERS } from '../../storage/driver-names.js';
import { PoolSet } from '../../storage/qube-storage.js';
import { method, type Call, type MethodDecl } from '../method.js';

const global = { scope: 'global', destAdminvm: true } as const;

/** The reference's refusal of an argument outside the allowed set (AbstractQubesAPI.enforce_arg). */
export function enforceArg(call: Call, allowed: Iterable<string>, what: string): void {
  for (const a of allowed) if (a === call.arg) return;
  throw new PermissionDenied(`Argument not in '${what}'`);
}

async function poolInfo(call: Call): Promise<string> {
  enforceArg(call, call.app.pools.keys(), 'pools');
  const pools = new PoolSet(call.app);
  const pool = await pools.get(call.arg);
  const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);
  let out = [...pool.record.attrs].sort(byKey).map(([k, v]) => `${k}=${v}\n`).join('');
  const space = await pool.space();
  if (space.size !== undefined) out += `size=${space.size}\n`;
  if (space.usage !== undefined) out += `usage=${space.usage}\n`;
  const container = pool.includedIn(await pools.all());
  if (container) out += `included_in=${container.name}\n`;
  return out;
}

export const POOL_METHODS: MethodDecl[] = [
  method('admin.pool.List', { ...global, wantsArg: false, wantsPayload: false }, (call) => [...call.app.pools.keys()].map((p) => `${p}\n`).join('')),
  method('admin.pool.ListDrivers', { ...global, wantsArg: false, wantsPayload: false }, () =>
    DRIVER_NAMES.map((d) => `${d} ${DRIVER_PARAMETERS[d].map((p) => p.name).join(' ')}\n`).join(''),
  ),
  method('admin.pool.Info', { ...global, wantsArg: true, wantsPayload: false }, poolInfo),
  method('admin.pool.UsageDetails', { ...global, wantsArg: true, wantsPayload: false }),
  method('admin.pool.Add', { ...global, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.pool.Remove', { ...global, wantsArg: true, wantsPayload: false, write: true }),
  method('admin.pool.volume.List', { ...global, wantsArg: true, wantsPayload: false }),
  method('admin.pool.Set.revisions_to_keep', { ...global, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.pool.Set.ephemeral_volatile', { ...global, wantsArg: true, wantsPayload: true, write: true }),
];
