// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.pool.List, ListDrivers (`DRIVER OPTION...` per line), Info (the
 * pool's configuration sorted by key, then size, usage and the pool that
 * holds it, when known), UsageDetails (`data_size`, `data_usage` and the
 * driver's own figures, sorted, known ones only), volume.List (the vids in
 * the pool). Adding, removing and changing pools are declared for the
 * second qubesd part.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (pool_*).
 */
import { PermissionDenied } from '../../errors.js';
import { DRIVER_NAMES, DRIVER_PARAMETERS } from '../../storage/driver-names.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet } from '../../storage/qube-storage.js';
import { volumeAttr } from '../../vm/volume-config.js';
import { method, type Call, type MethodDecl } from '../method.js';

const global = { scope: 'global', destAdminvm: true } as const;

/** The reference's refusal of an argument outside the allowed set (AbstractQubesAPI.enforce_arg). */
export function enforceArg(call: Call, allowed: Iterable<string>, what: string): void {
  for (const a of allowed) if (a === call.arg) return;
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
  method('admin.pool.Add', { ...global, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.pool.Remove', { ...global, wantsArg: true, wantsPayload: false, write: true }),
  method('admin.pool.volume.List', { ...global, wantsArg: true, wantsPayload: false }, poolVolumes),
  method('admin.pool.Set.revisions_to_keep', { ...global, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.pool.Set.ephemeral_volatile', { ...global, wantsArg: true, wantsPayload: true, write: true }),
];
