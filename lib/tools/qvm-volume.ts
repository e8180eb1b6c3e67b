// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-volume: list the volumes of qubes, show and change one, resize,
 * revert to a revision, import data, clone between qubes, clear.
 * Reference: qubesadmin/tools/qvm_volume.py; spec storage.md §7.
 */
import fs from 'node:fs';
import { QubesError } from '../errors.js';
import { importLength, openImportSource } from '../storage/import-source.js';
import type { CopyWatcher } from '../storage/copy-watch.js';
import { PoolSet } from '../storage/qube-storage.js';
import { parseSize } from '../storage/sizes.js';
import {
  clearVolume,
  cloneVolume,
  CONFIGURABLE,
  configureVolume,
  importVolumeData,
  resizeVolume,
  resolveVolume,
  revertVolume,
  revisionIds,
  volumeFacts,
  volumeInfo,
  type VolumeRef,
} from '../storage/volume-admin.js';
import { UsageError } from './common/errors.js';
import { cancellable } from './common/cancel-signals.js';
import { FORMAT_OPTION, wantsJson, writeJson, type FormatOpts, type JsonValue } from './common/json-output.js';
import { copyProgress } from './common/progress.js';
import type { Context } from './common/program.js';
import type { CommandSpec, OptionSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { resolveVm } from './common/vm-args.js';
import { sessionStorage, sessionPools } from '../ops/session-storage.js';

const FORCE: OptionSpec = { flags: '-f, --force', description: 'do not ask for confirmation (resize: allow shrinking)' };
const VOLUME_ARG = (name = 'VM:VOLUME') => ({ name, description: 'a qube and one of its volumes, e.g. work:private', kind: 'vm-volume' as const });

export const spec: CommandSpec = {
  name: 'qvm-volume',
  summary: 'manage the volumes of qubes',
  args: [],
  options: [],
  defaultSubcommand: 'list',
  subcommands: [
    {
      name: 'list',
      aliases: ['ls', 'l'],
      summary: 'list volumes, with whether a revert is possible',
      args: [{ name: 'VMNAME', description: 'qubes whose volumes to list (default: all)', kind: 'vm', variadic: true }],
      options: [
        { flags: '-p, --pool <POOL>', description: 'only volumes in this pool (repeatable)', kind: 'pool', repeatable: true },
        { flags: '--full', description: 'print the pool:volume of every row, also for volumes shared by several qubes' },
        { flags: '--all', description: 'all qubes (the default when none is named)' },
        { flags: '--exclude <VMNAME>', description: 'leave this qube out (repeatable)', kind: 'vm', repeatable: true },
        FORMAT_OPTION,
      ],
    },
    {
      name: 'info',
      aliases: ['i'],
      summary: "show a volume's settings and revisions, or one property",
      args: [VOLUME_ARG(), { name: 'PROPERTY', description: 'one property (e.g. size, revisions, is_outdated)', optional: true }],
      options: [FORMAT_OPTION],
    },
    {
      name: 'config',
      aliases: ['c', 'set', 's'],
      summary: 'set rw, revisions_to_keep or ephemeral of a volume',
      args: [VOLUME_ARG(), { name: 'PROPERTY', description: 'rw, revisions_to_keep or ephemeral' }, { name: 'VALUE', description: 'new value' }],
      options: [],
    },
    {
      name: 'resize',
      aliases: ['extend'],
      summary: 'set the size of a volume (shrinking needs --force)',
      args: [VOLUME_ARG(), { name: 'SIZE', description: 'bytes, or with a unit: 10GiB, 512M, 2G' }],
      options: [FORCE],
    },
    {
      name: 'revert',
      aliases: ['rv', 'r'],
      summary: 'go back to a revision (default: the newest)',
      args: [VOLUME_ARG(), { name: 'REVISION', description: 'revision id (see info)', kind: 'revision', optional: true }],
      options: [],
    },
    {
      name: 'import',
      summary: 'replace the data of a volume with a file or standard input',
      args: [VOLUME_ARG(), { name: 'PATH', description: 'image file, or - for standard input', kind: 'file' }],
      options: [
        { flags: '--size <SIZE>', description: 'size of the data (needed for a pipe); the volume gets this size' },
        { flags: '--no-resize', description: 'the data must be exactly the current size of the volume' },
      ],
    },
    {
      name: 'clone',
      summary: "replace a volume's data with a copy of another's",
      args: [VOLUME_ARG('SRC_VM:SRC_VOLUME'), VOLUME_ARG('DST_VM:DST_VOLUME')],
      options: [FORCE],
    },
    { name: 'clear', summary: "empty a volume (all zeros; the old state may stay as a revision)", args: [VOLUME_ARG()], options: [FORCE] },
  ],
};

interface Opts extends FormatOpts {
  pool?: string[];
  full?: boolean;
  all?: boolean;
  exclude?: string[];
  force?: boolean;
  size?: string;
  noResize?: boolean;
}

/** `VM:VOLUME` → parts. @throws UsageError */
function splitVolumeArg(arg: string): [string, string] {
  const parts = arg.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError('expected a vm & volume combination like foo:bar');
  return parts as [string, string];
}

/** The pools of the store, their long copies cancelled by `signal` and shown by `watchCopy`. */
const poolsOf = (ctx: Context, signal?: AbortSignal, watchCopy?: CopyWatcher) => {
  const app = ctx.store().read();
  return new PoolSet(app, { ...sessionStorage(ctx.session), signal, watchCopy });
};

async function volumeArg(pools: PoolSet, arg: string): Promise<VolumeRef> {
  const [vm, vol] = splitVolumeArg(arg);
  return resolveVolume(pools.app, vm, vol, pools);
}

/** Ask on the terminal (or read standard input); true for y/Y. */
function confirm(ctx: Context, lines: string[]): boolean {
  ctx.out(lines.map((l) => `${l}\n`).join('') + 'Are you sure? [y/N] ');
  const buf = Buffer.alloc(256);
  let answer = '';
  try {
    const n = fs.readSync(0, buf, 0, buf.length, null);
    answer = buf.subarray(0, n).toString('utf8').split('\n')[0]?.trim() ?? '';
  } catch {
    // no standard input: not confirmed
  }
  return answer === 'y' || answer === 'Y';
}

async function list(opts: Opts, names: string[], ctx: Context): Promise<void> {
  const app = ctx.store().read();
  const pools = sessionPools(ctx.session, app);
  const excluded = new Set(opts.exclude ?? []);
  for (const n of excluded) resolveVm(app, n);
  const vms = (names.length ? names.map((n) => resolveVm(app, n)) : app.domains.sorted()).filter((vm) => !excluded.has(vm.name));
  const groups = new Map<string, { key: [string, string]; rows: { vm: string; volume: string; revertible: boolean }[] }>();
  for (const vm of vms) {
    for (const { volume, pool } of await pools.volumesOf(vm)) {
      if (opts.pool?.length && !opts.pool.includes(pool.name)) continue;
      const id = `${pool.name}\0${volume.vid}`;
      const g = groups.get(id) ?? { key: [pool.name, volume.vid] as [string, string], rows: [] };
      g.rows.push({ vm: vm.name, volume: volume.name, revertible: (await pool.revisions(volume)).length > 0 });
      groups.set(id, g);
    }
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...groups.values()].sort((a, b) => cmp(a.key[0], b.key[0]) || cmp(a.key[1], b.key[1]));
  if (wantsJson(opts)) {
    // every row names its pool and vid (the table leaves them out under a shared volume's first row)
    writeJson(ctx, sorted.flatMap((g) => g.rows.map((r) => ({ pool: g.key[0], vid: g.key[1], vm: r.vm, volume: r.volume, revert_possible: r.revertible }))));
    return;
  }
  const rows = [['POOL:VOLUME', 'VMNAME', 'VOLUME_NAME', 'REVERT_POSSIBLE']];
  for (const g of sorted)
    g.rows.forEach((r, i) => {
      const label = i > 0 && ctx.stdoutIsTTY() && !opts.full ? '' : `${g.key[0]}:${g.key[1]}`;
      rows.push([label, r.vm, r.volume, r.revertible ? 'Yes' : 'No']);
    });
  ctx.out(formatTable(rows));
}

async function info(ref: VolumeRef, property: string | undefined, ctx: Context, opts: FormatOpts): Promise<void> {
  const revisions = await revisionIds(ref);
  if (wantsJson(opts)) {
    const all: { [key: string]: JsonValue } = { vm: ref.vm.name, volume: ref.name, ...(await volumeFacts(ref)), revisions };
    if (property !== undefined && !Object.hasOwn(all, property)) throw new QubesError(`No such property: ${property}`);
    writeJson(ctx, property === undefined ? all : { [property]: all[property] as JsonValue });
    return;
  }
  const rows = await volumeInfo(ref);
  if (property === undefined) {
    const shown = rows
      .filter(([k]) => k !== 'path')
      .map(([k, v]): [string, string] => [k, k === 'revisions_to_keep' && v === '-1' ? '-1 (snapshot disabled)' : v]);
    // the reference's row order: is_outdated after ephemeral, size and usage after snap_on_start
    const order = ['pool', 'vid', 'rw', 'source', 'save_on_stop', 'snap_on_start', 'size', 'usage', 'revisions_to_keep', 'ephemeral', 'is_outdated'];
    shown.sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
    ctx.out(formatTable(shown));
    const label = 'List of available revisions (for revert):';
    ctx.out(revisions.length ? `${label}\n${revisions.map((r) => `  ${r}\n`).join('')}` : `${label} none\n`);
    return;
  }
  if (property === 'revisions') {
    ctx.out(revisions.map((r) => `${r}\n`).join(''));
    return;
  }
  const row = rows.find(([k]) => k === property);
  if (!row) throw new QubesError(`No such property: ${property}`);
  ctx.out(`${row[1]}\n`);
}

async function resize(opts: Opts, ref: VolumeRef, sizeArg: string, ctx: Context): Promise<void> {
  const size = parseSize(sizeArg);
  const current = await ref.qv.pool.size(ref.qv.volume);
  const label = `${ref.vm.name}:${ref.name}`;
  if (!opts.force && size < current)
    throw new QubesError(
      `Refusing to shrink volume ${label} from ${current} to ${size} bytes. Shrink the filesystem inside the qube first (data beyond the new end is lost), then run: qvm-volume resize --force ${label} ${size}`,
    );
  await resizeVolume(ctx.store(), ref, size);
}

/**
 * The data comes from a regular file (its length, or exactly `--size`), or
 * a stream bounded by `--size` (standard input, a block device); a
 * character device, FIFO or socket named as a path is refused.
 */
async function importData(opts: Opts, ref: VolumeRef, file: string, ctx: Context): Promise<void> {
  if (opts.size !== undefined && opts.noResize) throw new UsageError('--size and --no-resize cannot be used together');
  const wanted = opts.noResize ? await ref.qv.pool.size(ref.qv.volume) : opts.size !== undefined ? parseSize(opts.size) : undefined;
  const source = openImportSource(file);
  const fromStdin = file === '-';
  let size: number;
  try {
    size = importLength(source, file, wanted);
  } catch (e) {
    if (!fromStdin) fs.closeSync(source.fd);
    throw e;
  }
  // the process's stdin stream, not a new stream on fd 0: a pipe there is non-blocking once Node looks at it, and
  // reading it directly fails with EAGAIN whenever the writer is slower than us
  const input = fromStdin ? ctx.session.streams.stdin() : fs.createReadStream('', { fd: source.fd });
  try {
    await importVolumeData(ctx.store(), ref, input, size);
  } finally {
    // a stdin that never sends (a terminal, a silent pipe) must not keep the command alive
    if (fromStdin) ctx.session.streams.stdin().destroy();
  }
}

/** Both volumes of `clone`, checked. */
async function cloneRefs(pools: PoolSet, rest: string[]): Promise<[VolumeRef, VolumeRef]> {
  const [src, dst] = [splitVolumeArg(rest[0] as string), splitVolumeArg(rest[1] as string)];
  const from = await resolveVolume(pools.app, src[0], src[1], pools);
  const to = await resolveVolume(pools.app, dst[0], dst[1], pools);
  if (!from.qv.volume.saveOnStop || !to.qv.volume.saveOnStop) throw new QubesError('Volumes must be save_on_stop for cloning');
  return [from, to];
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const [command, ...rest] = args as [string, ...string[]];
  if (command === 'list') return list(opts, rest, ctx);
  if (command === 'info') return info(await volumeArg(poolsOf(ctx), rest[0] as string), rest[1], ctx, opts);
  // the questions come first: Ctrl-C at a prompt ends the command at once
  if (command === 'clone') {
    await cloneRefs(poolsOf(ctx), rest);
    if (!opts.force && !confirm(ctx, [`This will replace the data of ${rest[1]} with a copy of ${rest[0]}.`, `The current data of ${rest[1]} may survive only as a revision.`])) {
      ctx.out('Clone cancelled.\n');
      return;
    }
  }
  if (command === 'clear') {
    await volumeArg(poolsOf(ctx), rest[0] as string);
    if (!opts.force && !confirm(ctx, [`This will erase all data of ${rest[0]}.`, 'The current data may survive only as a revision.'])) {
      ctx.out('Clear cancelled.\n');
      return;
    }
  }
  // every other command changes data: SIGINT/SIGTERM cancel it, and it removes what it made
  return cancellable(ctx, async (signal) => {
    // the copies of clone and import show their progress
    const label = command === 'clone' ? `Copying ${rest[0]} to ${rest[1]}...` : command === 'import' ? `Importing into ${rest[0]}...` : undefined;
    const pools = poolsOf(ctx, signal, label === undefined ? undefined : copyProgress(ctx, () => label));
    if (command === 'clone') {
      const [from, to] = await cloneRefs(pools, rest);
      return cloneVolume(ctx.store(), from, to);
    }
    const ref = await volumeArg(pools, rest[0] as string);
    switch (command) {
      case 'config':
        if (!CONFIGURABLE.includes(rest[1] as string)) throw new QubesError(`Invalid property: ${rest[1]}`);
        return configureVolume(ctx.store(), ref, rest[1] as string, rest[2] as string);
      case 'resize':
        return resize(opts, ref, rest[1] as string, ctx);
      case 'revert':
        return revertVolume(ref, rest[1]);
      case 'import':
        return importData(opts, ref, rest[1] as string, ctx);
      case 'clear':
        return clearVolume(ctx.store(), ref);
    }
  });
}
