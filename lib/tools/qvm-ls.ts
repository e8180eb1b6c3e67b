// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-ls: list qubes and their state as a table, a tree of network
 * connections, raw `|`-separated lines or JSON.
 *
 * This file holds the options and the output; columns, filters, sorting
 * and the tree order are in lib/listing/.
 *
 * Read-only: the store is read without a lock; the hypervisor is asked once,
 * and only when a column or filter needs runtime state. When it cannot be
 * reached, the listing still shows (power states as NA, a warning, exit 1)
 * unless a filter depends on the state. Every cell is computed once, only for the columns
 * shown (disk columns stat image files; the default listing does not), and
 * the output is written in one piece, so listing 1000 qubes stays cheap.
 *
 * Reference: qubesadmin/tools/qvm_ls.py, doc/manpages/qvm-ls.rst;
 * shared/spec/store-and-core-tools.md §7, §8.
 */
import { LibvirtUnreachableError } from '../errors.js';
import { BUILTIN_COLUMNS, cellJson, cellText, columnFor, FORMATS, RUNTIME_PROPERTIES } from '../listing/columns.js';
import { DiskUsage } from '../listing/disk-usage.js';
import { buildFilter, type FilterOptions } from '../listing/filters.js';
import { Row } from '../listing/row.js';
import { sortOrder, type SortOptions } from '../listing/sort.js';
import { treeOrder } from '../listing/tree.js';
import { codepointOrder } from '../util/compare.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { JSON_FORMAT, writeJson } from './common/json-output.js';
import { formatTable } from './common/table.js';
import { wrapWords } from './common/text.js';
import { resolveVms } from './common/vm-args.js';
import { unknownStates } from '../vmm/fixed-state.js';
import type { Vmm } from '../vmm/vmm.js';

// The -o choices (gen-docs completes them from the spec; the column names for
// -O and --sort it takes from lib/listing/columns.ts).
const FORMAT_CHOICES = [...Object.keys(FORMATS), JSON_FORMAT];

export const spec: CommandSpec = {
  name: 'qvm-ls',
  summary: 'list qubes and their state',
  args: [{ name: 'VMNAME', description: 'qube to list; shell-style wildcards (* ? [...]) allowed; none means all qubes', kind: 'vm', variadic: true }],
  options: [
    { flags: '--all', description: 'list all qubes, dom0 included (the default when no VMNAME is given)' },
    { flags: '--exclude <NAME>', description: 'leave out this qube (only with --all)', kind: 'vm', repeatable: true },
    { flags: '-o, --format <FORMAT>', description: 'preset column set (see --help-formats); json prints JSON instead of a table', kind: 'format', choices: FORMAT_CHOICES },
    { flags: '-O, --fields <FIELD,...>', description: 'comma-separated columns to show (see --help-columns; any qube property works too)', kind: 'column' },
    { flags: '-d, --disk', description: 'same as --format disk' },
    { flags: '-n, --network', description: 'same as --format network' },
    { flags: '-k, --kernel', description: 'same as --format kernel' },
    { flags: '-t, --tree', description: 'show qubes as a tree of network connections (ignores --sort)' },
    { flags: '--raw-data', description: 'no header, no padding: cells separated by |, in name order' },
    { flags: '--raw-list', description: 'only the names, one per line (same as --raw-data --fields name)' },
    { flags: '--help-formats', description: 'list the available formats and exit' },
    { flags: '--help-columns', description: 'list the available columns and exit' },
    { flags: '--class <CLASS...>', description: 'only qubes of one of these classes (several may follow, or repeat the option)', kind: 'class' },
    { flags: '--label <LABEL...>', description: 'only qubes with one of these labels', kind: 'label' },
    { flags: '--tags <TAG...>', description: 'only qubes that have at least one of these tags', kind: 'tag' },
    { flags: '--exclude-tags <TAG...>', description: 'only qubes that have none of these tags', kind: 'tag' },
    { flags: '--template-source <TEMPLATE...>', description: 'only qubes based on one of these templates ("" matches qubes without a template)', kind: 'vm' },
    { flags: '--netvm-is <NETVM...>', description: 'only qubes whose netvm is one of these ("" matches qubes without network)', kind: 'vm' },
    { flags: '--internal <y|n>', description: 'only qubes that are (y, yes) or are not (n, no) internal', choices: ['y', 'yes', 'n', 'no'] },
    { flags: '--servicevm <y|n>', description: 'only qubes that are (y, yes) or are not (n, no) service qubes', choices: ['y', 'yes', 'n', 'no'] },
    { flags: '--pending-update', description: 'only qubes that have updates pending' },
    { flags: '--features <NAME=VALUE...>', description: 'only qubes whose feature NAME equals VALUE (NAME= means unset, NAME=\'\' or NAME="" means empty)', kind: 'feature' },
    { flags: '--prefs <NAME=VALUE...>', description: 'only qubes whose property NAME equals VALUE (NAME= means unset, none or empty; NAME=\'\' or NAME="" means empty)', kind: 'vm-property' },
    { flags: '--running', description: 'only running qubes (may be combined with --paused and --halted)' },
    { flags: '--paused', description: 'only paused qubes' },
    { flags: '--halted', description: 'only halted qubes' },
    { flags: '--sort <COLUMN>', description: 'sort by this column (default NAME); numeric columns sort as numbers', kind: 'column' },
    { flags: '--reverse', description: 'reverse the sort order' },
    { flags: '--ignore-case', description: 'ignore case when sorting' },
    { flags: '--spinner', description: 'accepted for compatibility; no progress indicator is ever shown' },
    { flags: '--no-spinner', description: 'accepted for compatibility' },
  ],
};

interface Opts extends Omit<FilterOptions, 'features' | 'prefs'>, SortOptions {
  all?: boolean;
  exclude?: string[];
  format?: string;
  fields?: string;
  disk?: boolean;
  network?: boolean;
  kernel?: boolean;
  tree?: boolean;
  rawData?: boolean;
  rawList?: boolean;
  helpFormats?: boolean;
  helpColumns?: boolean;
  features?: string[];
  prefs?: string[];
}

function helpFormats(): string {
  const names = Object.keys(FORMATS).sort();
  const rows = names.map((n) => [`  ${n}`, (FORMATS[n] as readonly string[]).join(',')]);
  rows.push(['  json', 'the columns of simple (or of --fields, --disk, ...) as a JSON array of objects']);
  return `Available formats:\n${formatTable(rows)}\n`;
}

function helpColumns(): string {
  const w = Math.max(...BUILTIN_COLUMNS.map((c) => c.head.length));
  let out = 'Available columns:\n';
  for (const c of BUILTIN_COLUMNS) {
    const lines = wrapWords(c.doc, 80 - w - 4);
    out += `  ${c.head.padEnd(w)}  ${lines[0] ?? ''}\n`;
    for (const l of lines.slice(1)) out += `  ${''.padEnd(w)}  ${l}\n`;
  }
  out +=
    '\nAny property of a qube can be used as a column too (see qvm-prefs --help-properties),\n' +
    'e.g. QID, XID, UUID, IP, KERNEL, KERNELOPTS, VCPUS, MAXMEM, VIRT-MODE; a property the\n' +
    'qube does not have prints as -.\n';
  return out;
}

/** `K=V` tokens of --features / --prefs. @throws UsageError */
function parseKv(opt: string, tokens: string[] | undefined): [string, string][] {
  return (tokens ?? []).map((t) => {
    const i = t.indexOf('=');
    if (i <= 0) throw new UsageError(`Invalid argument: --${opt} ${t}`);
    return [t.slice(0, i), t.slice(i + 1)];
  });
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number | void> {
  if (opts.helpFormats || opts.helpColumns) {
    ctx.out(opts.helpFormats ? helpFormats() : helpColumns());
    return;
  }

  const shortcuts = [opts.disk && 'disk', opts.network && 'network', opts.kernel && 'kernel'].filter(Boolean) as string[];
  const json = opts.format === JSON_FORMAT;
  const chosen = (opts.format && !json ? 1 : 0) + (opts.fields !== undefined ? 1 : 0) + shortcuts.length;
  if (chosen > 1) throw new UsageError('only one of --format, --fields, --disk, --network, --kernel may be given');
  if (json && (opts.rawData || opts.rawList)) throw new UsageError('--format json cannot be combined with --raw-data or --raw-list');

  let fields: string[];
  if (opts.rawList) fields = ['NAME'];
  else if (opts.fields !== undefined) fields = opts.fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
  else fields = [...(FORMATS[shortcuts[0] ?? (json ? 'simple' : (opts.format ?? 'simple'))] as readonly string[])];
  if (fields.length === 0) throw new UsageError('--fields needs at least one column');
  const prefs = parseKv('prefs', opts.prefs);
  const filter = buildFilter({ ...opts, features: parseKv('features', opts.features), prefs });
  const columns = fields.map(columnFor);
  const stateFilter = Boolean(opts.running || opts.paused || opts.halted) || prefs.some(([k]) => RUNTIME_PROPERTIES.has(k.replace(/-/g, '_')));

  const app = ctx.store().read();
  // No selection means every qube; named qubes come in command-line order, listed by name.
  const selected =
    args.length || opts.all || opts.exclude?.length
      ? resolveVms(app, { names: args, all: opts.all, exclude: opts.exclude }, true).sort((a, b) => codepointOrder(a.name, b.name))
      : app.domains.sorted();
  let runtime: Pick<Vmm, 'info'> = app.vmm;
  let status = 0;
  if (stateFilter || columns.some((c) => c.runtime)) {
    try {
      await app.vmm.refresh(selected);
    } catch (e) {
      // like ls on an unreadable entry: show what is known, say why, exit 1
      if (!(e instanceof LibvirtUnreachableError) || stateFilter) throw e;
      if (ctx.verbose >= 0) ctx.err(`${ctx.prog}: warning: ${e.message}; power states are shown as NA\n`);
      runtime = unknownStates(app.vmm);
      status = 1;
    }
  }

  const disk = new DiskUsage(app);
  const rows = selected.map((vm) => new Row(vm, runtime, disk)).filter(filter);
  const values = rows.map((r) => columns.map((c) => c.value(r)));
  const cells = values.map((v) => v.map(cellText));
  const heads = columns.map((c) => c.head);

  if (opts.rawData || opts.rawList) {
    let out = '';
    for (const c of cells) out += c.join('|') + '\n';
    ctx.out(out);
    return status;
  }

  const order: [number, number][] =
    opts.tree && !json ? treeOrder(rows) : sortOrder(cells, heads, opts).map((i) => [i, 0]);

  if (json) {
    // the cell texts, with null where the table shows `-` for a missing value
    writeJson(ctx, order.map(([i]) => Object.fromEntries((values[i] ?? []).map((v, j) => [heads[j] as string, cellJson(v)]))));
    return status;
  }

  const nameCol = heads.indexOf('NAME');
  const table: string[][] = [heads];
  for (const [i, depth] of order) {
    const row = cells[i] as string[];
    if (depth > 0 && nameCol >= 0) {
      const r = [...row];
      r[nameCol] = '  '.repeat(depth - 1) + '└─' + r[nameCol];
      table.push(r);
    } else table.push(row);
  }
  ctx.out(formatTable(table));
  return status;
}
