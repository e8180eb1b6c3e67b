// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-pool: list, inspect, add, remove and change storage pools; also the
 * deprecated option form (`-l`, `-i POOL`, `-a NAME DRIVER`, `-r NAME`,
 * `-s POOL`, `--help-drivers`, `-o k=v,k2=v2`).
 * Reference: qubesadmin/tools/qvm_pool.py, qvm_pool_legacy.py; spec
 * storage.md §6.
 */
import { QubesError } from '../errors.js';
import { DRIVER_NAMES, DRIVER_PARAMETERS } from '../storage/driver-names.js';
import { addPool, parseOptions, poolFacts, poolInfo, removePool, setPoolOption } from '../storage/pool-admin.js';
import { UsageError } from './common/errors.js';
import { FORMAT_OPTION, refuseJson, wantsJson, writeJson, type FormatOpts } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec, OptionSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { sessionStorage, sessionPools } from '../ops/session-storage.js';

const OPTION: OptionSpec = { flags: '-o, --option <OPT=VALUE>', description: 'a driver option (repeatable)', repeatable: true, kind: 'text' };

export const spec: CommandSpec = {
  name: 'qvm-pool',
  summary: 'manage storage pools',
  args: [],
  options: [
    { flags: '-l, --list', description: 'legacy form: list pools', legacy: true },
    { flags: '-i, --info <POOL>', description: 'legacy form: show a pool', kind: 'pool', legacy: true },
    { flags: '-a, --add', description: 'legacy form: add pool NAME with driver DRIVER (positionals NAME DRIVER)', legacy: true },
    { flags: '-r, --remove <POOL>', description: 'legacy form: remove a pool', kind: 'pool', legacy: true },
    { flags: '-s, --set <POOL>', description: 'legacy form: set options (-o) of a pool', kind: 'pool', legacy: true },
    { flags: '--help-drivers', description: 'legacy form: list the drivers and their options', legacy: true },
  ],
  defaultSubcommand: 'list',
  subcommands: [
    { name: 'list', aliases: ['l', 'ls'], summary: 'list the pools and their drivers', args: [], options: [FORMAT_OPTION] },
    { name: 'drivers', aliases: ['d'], summary: 'list the drivers and the options each takes', args: [], options: [FORMAT_OPTION] },
    { name: 'info', aliases: ['i'], summary: "show a pool's settings, size and usage", args: [{ name: 'POOL_NAME', description: 'pool', kind: 'pool' }], options: [FORMAT_OPTION] },
    {
      name: 'add',
      aliases: ['a'],
      summary: 'add a pool',
      args: [
        { name: 'POOL_NAME', description: 'name of the new pool', kind: 'text' },
        { name: 'DRIVER', description: 'its driver (see drivers)', kind: 'driver' },
      ],
      options: [OPTION],
    },
    { name: 'remove', aliases: ['r', 'rm'], summary: 'remove pools (their data stays)', args: [{ name: 'POOL_NAME', description: 'pool', kind: 'pool', variadic: true }], options: [] },
    { name: 'set', aliases: ['s'], summary: 'change revisions_to_keep or ephemeral_volatile of a pool', args: [{ name: 'POOL_NAME', description: 'pool', kind: 'pool' }], options: [OPTION] },
  ],
};

interface Opts extends FormatOpts {
  option?: string[];
  list?: boolean;
  info?: string;
  add?: boolean;
  remove?: string;
  set?: string;
  helpDrivers?: boolean;
}

function requirePool(ctx: Context, name: string): void {
  if (!ctx.store().read().pools.has(name)) throw new UsageError(`no such pool: '${name}'`);
}

function listPools(ctx: Context, opts: FormatOpts): void {
  const pools = [...ctx.store().read().pools.values()];
  if (wantsJson(opts)) writeJson(ctx, pools.map((p) => ({ name: p.name, driver: p.driver })));
  else ctx.out(formatTable([['NAME', 'DRIVER'], ...pools.map((p) => [p.name, p.driver])]));
}

function listDrivers(ctx: Context, opts: FormatOpts): void {
  const drivers = [...DRIVER_NAMES].sort();
  if (wantsJson(opts)) writeJson(ctx, drivers.map((d) => ({ name: d, options: DRIVER_PARAMETERS[d].map((p) => ({ name: p.name, required: p.required })) })));
  else ctx.out(formatTable([['DRIVER', 'OPTIONS'], ...drivers.map((d) => [d, DRIVER_PARAMETERS[d].map((p) => p.name).join(', ')])]));
}

async function showPool(ctx: Context, name: string, opts: FormatOpts): Promise<void> {
  requirePool(ctx, name);
  const pools = sessionPools(ctx.session, ctx.session.app());
  if (wantsJson(opts)) writeJson(ctx, { ...(await poolFacts(pools, name)) });
  else ctx.out(formatTable(await poolInfo(pools, name)));
}

async function add(ctx: Context, name: string, driver: string, options: string[]): Promise<void> {
  try {
    await addPool(ctx.store(), sessionStorage(ctx.session), name, driver, parseOptions(options));
  } catch (e) {
    if (e instanceof QubesError) throw new QubesError(`Failed to add pool ${name}: ${e.message}`);
    throw e;
  }
}

async function remove(ctx: Context, names: string[]): Promise<void> {
  const failures: string[] = [];
  for (const n of names) {
    try {
      await removePool(ctx.store(), n);
    } catch (e) {
      if (!(e instanceof QubesError)) throw e;
      failures.push(`Failed to remove pool ${n}: ${e.message}`);
    }
  }
  if (failures.length) throw new QubesError(failures.join('; '));
}

async function set(ctx: Context, name: string, options: string[]): Promise<void> {
  requirePool(ctx, name);
  if (options.length === 0) throw new UsageError('set needs at least one -o OPTION=VALUE');
  for (const [k, v] of parseOptions(options)) await setPoolOption(ctx.store(), sessionStorage(ctx.session), name, k, v);
}

/** The deprecated option form; its errors are usage errors (exit 2), as the reference's parser.error. */
async function legacy(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const options = (opts.option ?? []).flatMap((o) => o.split(','));
  const actions = [opts.list, opts.info, opts.add, opts.remove, opts.set, opts.helpDrivers].filter((a) => a !== undefined);
  if (actions.length > 1) throw new UsageError('only one of -l, -i, -a, -r, -s, --help-drivers may be given');
  if (opts.add || opts.remove !== undefined || opts.set !== undefined) refuseJson(opts, 'a change');
  try {
    if (opts.info !== undefined) await showPool(ctx, opts.info, opts);
    else if (opts.add) {
      if (args.length !== 2) throw new UsageError('-a needs NAME and DRIVER');
      await add(ctx, args[0] as string, args[1] as string, options);
    } else if (opts.remove !== undefined) await remove(ctx, [opts.remove]);
    else if (opts.set !== undefined) await set(ctx, opts.set, options);
    else if (opts.helpDrivers) listDrivers(ctx, opts);
    else listPools(ctx, opts);
  } catch (e) {
    if (e instanceof QubesError) throw new UsageError(e.message);
    throw e;
  }
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const legacyGiven = [opts.list, opts.info, opts.add, opts.remove, opts.set, opts.helpDrivers].some((a) => a !== undefined);
  if (legacyGiven) return legacy(opts, args, ctx);
  const [command, ...rest] = args;
  switch (command) {
    case 'list':
      return listPools(ctx, opts);
    case 'drivers':
      return listDrivers(ctx, opts);
    case 'info':
      return showPool(ctx, rest[0] as string, opts);
    case 'add':
      return add(ctx, rest[0] as string, rest[1] as string, opts.option ?? []);
    case 'remove':
      return remove(ctx, rest);
    case 'set':
      return set(ctx, rest[0] as string, opts.option ?? []);
  }
}
