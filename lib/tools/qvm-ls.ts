// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-ls: list qubes and their state as a table, a tree of network
 * connections, raw `|`-separated lines or JSON.
 *
 * Read-only: the store is read without a lock; the hypervisor is asked once
 * for the selected qubes. Every cell is computed once, only for the columns
 * shown (disk columns stat image files; the default listing does not), and
 * the output is written in one piece, so listing 1000 qubes stays cheap.
 *
 * Reference: qubesadmin/tools/qvm_ls.py, doc/manpages/qvm-ls.rst;
 * shared/spec/store-and-core-tools.md §7, §8.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import type { PropValue } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';
import type { DomainInfo } from '../vmm/vmm.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { resolveVms } from './common/vm-args.js';

// ---- formats and columns ------------------------------------------------------

/** Column sets of `--format` (reference `formats`). `json` is ours: simple's columns (or --fields), as JSON. */
export const FORMATS: Record<string, readonly string[]> = {
  simple: ['NAME', 'STATE', 'CLASS', 'LABEL', 'TEMPLATE', 'NETVM'],
  network: ['NAME', 'STATE', 'NETVM', 'IP', 'IPBACK', 'GATEWAY'],
  kernel: ['NAME', 'STATE', 'CLASS', 'TEMPLATE', 'KERNEL', 'KERNELOPTS'],
  full: ['NAME', 'STATE', 'CLASS', 'LABEL', 'QID', 'XID', 'UUID'],
  prefs: ['NAME', 'LABEL', 'TEMPLATE', 'NETVM', 'VCPUS', 'INITIALMEM', 'MAXMEM', 'VIRT-MODE'],
  disk: ['NAME', 'STATE', 'DISK', 'PRIV-CURR', 'PRIV-MAX', 'PRIV-USED', 'ROOT-CURR', 'ROOT-MAX', 'ROOT-USED'],
};
const FORMAT_CHOICES = [...Object.keys(FORMATS), 'json'];

/** Columns sorted as integers (`-` and other non-numbers count as 0; a trailing `%` is ignored). */
const NUMERIC = new Set([
  'MEMORY', 'DISK', 'PRIV-CURR', 'PRIV-MAX', 'PRIV-USED', 'ROOT-CURR', 'ROOT-MAX', 'ROOT-USED',
  'XID', 'QID', 'MAXMEM', 'QREXEC-TIMEOUT', 'SHUTDOWN-TIMEOUT', 'VCPUS', 'STUBDOM-MEM', 'DISPID',
]);

/** What a row needs about one qube, each piece fetched at most once. */
class Row {
  private infoCache: DomainInfo | undefined;
  private usage: Map<string, number | undefined> | undefined;
  constructor(
    readonly vm: QubesVM,
    readonly lister: Lister,
  ) {}
  get info(): DomainInfo {
    return (this.infoCache ??= this.lister.app.vmm.info(this.vm));
  }
  volume(name: string): VolumeConfig | undefined {
    return this.vm.volumeConfig.find((v) => volumeAttr(v, 'name') === name);
  }
  /** Allocated MiB of a volume; 0 if it has no image yet; undefined where the pool driver is not known here. */
  volumeUsage(v: VolumeConfig): number | undefined {
    this.usage ??= new Map();
    const vid = volumeAttr(v, 'vid') ?? '';
    const key = `${volumeAttr(v, 'pool')}\0${vid}`;
    if (!this.usage.has(key)) this.usage.set(key, this.lister.usageOf(v));
    return this.usage.get(key);
  }
}

interface Column {
  head: string;
  doc: string;
  value: (r: Row) => PropValue | string[] | undefined;
}

const MiB = 1024 * 1024;

const sizeMiB = (v: VolumeConfig | undefined): number => {
  const s = v ? Number(volumeAttr(v, 'size') ?? 0) : 0;
  return Number.isFinite(s) ? Math.floor(s / MiB) : 0;
};

function curr(r: Row, name: string): number | undefined {
  const v = r.volume(name);
  return v ? r.volumeUsage(v) : 0;
}

function used(r: Row, name: string): string | undefined {
  const size = sizeMiB(r.volume(name));
  const u = curr(r, name);
  if (u === undefined) return undefined;
  return size === 0 ? '0' : `${Math.floor((u * 100) / size)}%`;
}

/** Own property value, or undefined where the class has no such property or its default is unavailable. */
function prop(vm: QubesVM, name: string): PropValue | undefined {
  if (!vm.has(name)) return undefined;
  try {
    return vm.get(name);
  } catch {
    return undefined;
  }
}

const TRUE_FEATURE = new Set(['1', 'true', 'True']);
const featureTrue = (vm: QubesVM, f: string) => TRUE_FEATURE.has(vm.features.get(f) ?? '');

const TYPE_FLAG: Record<string, string> = { AdminVM: '0', AppVM: 'a', DispVM: 'd', StandaloneVM: 's', TemplateVM: 't' };
const POWER_FLAG: Record<string, string> = {
  Running: 'r', Transient: 't', Paused: 'p', Suspended: 's', Halting: 'h', Dying: 'd', Crashed: 'c', Unknown: '?',
};

function flags(r: Row): string {
  const vm = r.vm;
  let t = TYPE_FLAG[vm.klass] ?? '-';
  if (prop(vm, 'virt_mode') === 'hvm') t = t.toUpperCase();
  const yes = (p: string, c: string) => (prop(vm, p) === true ? c : '-');
  return (
    t +
    (POWER_FLAG[r.info.state] ?? '-') +
    yes('updateable', 'U') +
    yes('provides_network', 'N') +
    yes('installed_by_rpm', 'R') +
    (featureTrue(vm, 'internal') ? 'i' : '-') +
    yes('debug', 'D') +
    yes('autostart', 'A')
  );
}

const BUILTIN: Column[] = [
  { head: 'NAME', doc: 'Name of the qube.', value: (r) => r.vm.name },
  { head: 'STATE', doc: 'Current power state: Running, Halted, Transient, Paused, Suspended, Halting, Dying, Crashed or NA.', value: (r) => r.info.state },
  { head: 'CLASS', doc: 'Class of the qube (AppVM, TemplateVM, StandaloneVM, DispVM, AdminVM).', value: (r) => r.vm.klass },
  { head: 'LABEL', doc: 'Label (colour) of the qube.', value: (r) => prop(r.vm, 'label') },
  { head: 'TEMPLATE', doc: 'Template the qube is based on.', value: (r) => prop(r.vm, 'template') },
  { head: 'NETVM', doc: 'Qube that provides network to this one.', value: (r) => prop(r.vm, 'netvm') },
  { head: 'GATEWAY', doc: "Network gateway of the qube (its netvm's gateway address).", value: (r) => { const n = r.vm.has('netvm') ? r.vm.netvmVm() : null; return n ? prop(n, 'gateway') : undefined; } },
  { head: 'MEMORY', doc: 'Memory currently used by a running qube, in MiB.', value: (r) => (r.info.state === 'Halted' || r.info.state === 'NA' ? undefined : r.info.memoryMiB) },
  {
    head: 'DISK',
    doc: 'Total disk space allocated to all volumes of the qube, in MiB.',
    value: (r) => {
      let sum = 0;
      for (const v of r.vm.volumeConfig) {
        const u = r.volumeUsage(v);
        if (u === undefined) return undefined;
        sum += u;
      }
      return sum;
    },
  },
  { head: 'PRIV-CURR', doc: 'Disk space allocated to the private volume, in MiB.', value: (r) => curr(r, 'private') },
  { head: 'PRIV-MAX', doc: 'Maximum size of the private volume, in MiB.', value: (r) => sizeMiB(r.volume('private')) },
  { head: 'PRIV-USED', doc: 'Part of the private volume allocated, in percent.', value: (r) => used(r, 'private') },
  { head: 'PRIV-POOL', doc: 'Storage pool of the private volume.', value: (r) => { const v = r.volume('private'); return v && volumeAttr(v, 'pool'); } },
  { head: 'ROOT-CURR', doc: 'Disk space allocated to the root volume, in MiB.', value: (r) => curr(r, 'root') },
  { head: 'ROOT-MAX', doc: 'Maximum size of the root volume, in MiB.', value: (r) => sizeMiB(r.volume('root')) },
  { head: 'ROOT-USED', doc: 'Part of the root volume allocated, in percent.', value: (r) => used(r, 'root') },
  { head: 'ROOT-POOL', doc: 'Storage pool of the root volume.', value: (r) => { const v = r.volume('root'); return v && volumeAttr(v, 'pool'); } },
  { head: 'TAGS', doc: 'Tags of the qube, sorted, comma-separated.', value: (r) => r.vm.tags.sorted() },
  {
    head: 'FLAGS',
    doc:
      'Eight flags: type (0 AdminVM, a AppVM, d DispVM, s StandaloneVM, t TemplateVM; upper case in HVM mode), ' +
      'power (r running, t transient, p paused, s suspended, h halting, d dying, c crashed), U updateable, ' +
      'N provides network, R installed by package manager, i internal (feature), D debug, A autostart; - where not.',
    value: flags,
  },
];
const BUILTIN_BY_HEAD = new Map(BUILTIN.map((c) => [c.head, c]));

/** A field name (any case, `_` or `-`) → its column: a built-in one or a property of the qube. */
export function columnFor(field: string): Column {
  const head = field.trim().toUpperCase().replace(/_/g, '-');
  const b = BUILTIN_BY_HEAD.get(head);
  if (b) return b;
  const name = field.trim().toLowerCase().replace(/-/g, '_');
  return { head, doc: '', value: (r) => prop(r.vm, name) };
}

/** Cell text: missing, none and empty ⇒ `-`; lists joined with `,`; booleans as True/False. */
function cellText(v: PropValue | string[] | undefined): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

// ---- the listing ----------------------------------------------------------------

class Lister {
  private readonly poolDirs = new Map<string, { driver: string; dir: string | undefined } | null>();
  constructor(readonly app: Qubes) {}

  usageOf(v: VolumeConfig): number | undefined {
    const poolName = volumeAttr(v, 'pool') ?? '';
    let p = this.poolDirs.get(poolName);
    if (p === undefined) {
      const pool = this.app.pools.get(poolName);
      p = pool ? { driver: pool.driver, dir: pool.attr('dir_path') } : null;
      this.poolDirs.set(poolName, p);
    }
    if (!p) return undefined;
    if (p.driver === 'linux-kernel') return 0;
    if ((p.driver !== 'file' && p.driver !== 'file-reflink') || !p.dir) return undefined;
    const st = fs.statSync(path.join(p.dir, `${volumeAttr(v, 'vid') ?? ''}.img`), { throwIfNoEntry: false });
    return st ? Math.floor((st.blocks * 512) / MiB) : 0;
  }
}

// ---- command line -----------------------------------------------------------------

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

interface Opts {
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
  class?: string[];
  label?: string[];
  tags?: string[];
  excludeTags?: string[];
  templateSource?: string[];
  netvmIs?: string[];
  internal?: string;
  servicevm?: string;
  pendingUpdate?: boolean;
  features?: string[];
  prefs?: string[];
  running?: boolean;
  paused?: boolean;
  halted?: boolean;
  sort?: string;
  reverse?: boolean;
  ignoreCase?: boolean;
}

export function helpFormats(): string {
  const names = Object.keys(FORMATS).sort();
  const rows = names.map((n) => [`  ${n}`, (FORMATS[n] as readonly string[]).join(',')]);
  rows.push(['  json', 'the columns of simple (or of --fields, --disk, ...) as a JSON array of objects']);
  return `Available formats:\n${formatTable(rows)}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}

export function helpColumns(): string {
  const w = Math.max(...BUILTIN.map((c) => c.head.length));
  let out = 'Available columns:\n';
  for (const c of BUILTIN) {
    const lines = wrap(c.doc, 80 - w - 4);
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

const isQuotedEmpty = (v: string) => v === '""' || v === "''";

/** String form of a property for --prefs (Python str(): True/False, numbers, names). */
function propString(v: PropValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

function buildFilter(opts: Opts): (r: Row) => boolean {
  const tests: ((r: Row) => boolean)[] = [];
  const feats = parseKv('features', opts.features);
  const prefs = parseKv('prefs', opts.prefs);
  if (opts.class?.length) {
    const s = new Set(opts.class);
    tests.push((r) => s.has(r.vm.klass));
  }
  if (opts.label?.length) {
    const s = new Set(opts.label);
    tests.push((r) => s.has(String(prop(r.vm, 'label'))));
  }
  if (opts.tags?.length) {
    const t = opts.tags;
    tests.push((r) => t.some((x) => r.vm.tags.has(x)));
  }
  if (opts.excludeTags?.length) {
    const t = opts.excludeTags;
    tests.push((r) => !t.some((x) => r.vm.tags.has(x)));
  }
  if (opts.templateSource?.length) {
    const s = new Set(opts.templateSource);
    tests.push((r) => s.has(cellOrEmpty(prop(r.vm, 'template'))));
  }
  if (opts.netvmIs?.length) {
    const s = new Set(opts.netvmIs);
    tests.push((r) => s.has(cellOrEmpty(prop(r.vm, 'netvm'))));
  }
  for (const [opt, feature] of [[opts.internal, 'internal'], [opts.servicevm, 'servicevm']] as const) {
    if (opt === undefined) continue;
    const want = opt === 'y' || opt === 'yes';
    tests.push((r) => featureTrue(r.vm, feature) === want);
  }
  if (opts.pendingUpdate) tests.push((r) => Boolean(r.vm.features.get('updates-available')));
  for (const [k, v] of feats) {
    if (v === '') tests.push((r) => r.vm.features.get(k) === undefined);
    else {
      const want = isQuotedEmpty(v) ? '' : v;
      tests.push((r) => r.vm.features.get(k) === want);
    }
  }
  for (const [k, v] of prefs) {
    const name = k.replace(/-/g, '_');
    if (v === '') tests.push((r) => r.vm.has(name) && (propString(prop(r.vm, name)) ?? '') === '');
    else {
      const want = isQuotedEmpty(v) ? '' : v;
      tests.push((r) => r.vm.has(name) && propString(prop(r.vm, name)) === want);
    }
  }
  const states = new Set<string>();
  if (opts.running) states.add('running');
  if (opts.paused) states.add('paused');
  if (opts.halted) states.add('halted');
  if (states.size) tests.push((r) => states.has(r.info.state.toLowerCase()));
  return (r) => tests.every((t) => t(r));
}

const cellOrEmpty = (v: PropValue | undefined): string => (v === undefined || v === null ? '' : String(v));

function numeric(s: string): number {
  const n = parseInt(s.endsWith('%') ? s.slice(0, -1) : s, 10);
  return Number.isNaN(n) ? 0 : n;
}

/** Tree order (spec §8.4): returns [row index, depth] pairs. */
function treeOrder(rows: Row[]): [number, number][] {
  const index = new Map<QubesVM, number>();
  rows.forEach((r, i) => index.set(r.vm, i));
  const children = new Map<string, number[]>();
  const roots: number[] = [];
  const netRoots: number[] = [];
  rows.forEach((r, i) => {
    const n = prop(r.vm, 'netvm');
    const provides = prop(r.vm, 'provides_network') === true;
    if (typeof n === 'string' && n !== '') {
      let c = children.get(n);
      if (!c) children.set(n, (c = []));
      c.push(i);
    } else (provides ? netRoots : roots).push(i);
  });
  const out: [number, number][] = roots.map((i) => [i, 0]);
  const seen = new Set<number>();
  const walk = (i: number, depth: number) => {
    if (seen.has(i)) return;
    seen.add(i);
    out.push([i, depth]);
    const r = rows[i] as Row;
    if (depth > 0 && prop(r.vm, 'provides_network') !== true) return;
    for (const c of children.get(r.vm.name) ?? []) walk(c, depth + 1);
  };
  for (const i of netRoots) walk(i, 0);
  return out;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  if (opts.helpFormats || opts.helpColumns) {
    ctx.out(opts.helpFormats ? helpFormats() : helpColumns());
    return;
  }

  const shortcuts = [opts.disk && 'disk', opts.network && 'network', opts.kernel && 'kernel'].filter(Boolean) as string[];
  const json = opts.format === 'json';
  const chosen = (opts.format && !json ? 1 : 0) + (opts.fields !== undefined ? 1 : 0) + shortcuts.length;
  if (chosen > 1) throw new UsageError('only one of --format, --fields, --disk, --network, --kernel may be given');
  if (json && (opts.rawData || opts.rawList)) throw new UsageError('--format json cannot be combined with --raw-data or --raw-list');
  if (opts.exclude?.length && !opts.all) throw new UsageError('--exclude can only be used with --all');
  if (opts.all && args.length) throw new UsageError('--all cannot be used together with qube names');

  let fields: string[];
  if (opts.rawList) fields = ['NAME'];
  else if (opts.fields !== undefined) fields = opts.fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
  else fields = [...(FORMATS[shortcuts[0] ?? (json ? 'simple' : (opts.format ?? 'simple'))] as readonly string[])];
  if (fields.length === 0) throw new UsageError('--fields needs at least one column');
  const filter = buildFilter(opts);
  const columns = fields.map(columnFor);

  const app = ctx.store().read();
  const selected =
    args.length || opts.all
      ? resolveVms(app, { names: args, all: opts.all, exclude: opts.exclude }, true).sort((a, b) =>
          a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
        )
      : app.domains.sorted();
  await app.vmm.refresh(selected);

  const lister = new Lister(app);
  const rows = selected.map((vm) => new Row(vm, lister)).filter(filter);
  const cells = rows.map((r) => columns.map((c) => cellText(c.value(r))));
  const heads = columns.map((c) => c.head);

  if (opts.rawData || opts.rawList) {
    let out = '';
    for (const c of cells) out += c.join('|') + '\n';
    ctx.out(out);
    return;
  }

  let order: [number, number][] = cells.map((_c, i) => [i, 0]);
  if (opts.tree && !json) order = treeOrder(rows);
  else {
    const sortHead = (opts.sort ?? 'NAME').toUpperCase().replace(/_/g, '-');
    const col = heads.indexOf(sortHead);
    if (col >= 0) {
      const sign = opts.reverse ? -1 : 1;
      const key = (i: number) => (cells[i] as string[])[col] as string;
      if (NUMERIC.has(sortHead)) {
        const k = cells.map((_c, i) => numeric(key(i)));
        order.sort(([a], [b]) => sign * ((k[a] as number) - (k[b] as number)));
      } else {
        const k = cells.map((_c, i) => (opts.ignoreCase ? key(i).toLowerCase() : key(i)));
        order.sort(([a], [b]) => {
          const x = k[a] as string;
          const y = k[b] as string;
          return sign * (x < y ? -1 : x > y ? 1 : 0);
        });
      }
    }
  }

  if (json) {
    const objs = order.map(([i]) => {
      const o: Record<string, string> = {};
      heads.forEach((h, j) => (o[h] = (cells[i] as string[])[j] as string));
      return o;
    });
    ctx.out(JSON.stringify(objs, null, 2) + '\n');
    return;
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
}
