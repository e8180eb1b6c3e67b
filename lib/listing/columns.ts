// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The columns of qvm-ls: the built-in ones (with the text --help-columns
 * shows), property columns for any other field name, the preset column
 * sets of --format, and how a value becomes cell text.
 *
 * A column only says how to get its value from a Row; the Row fetches
 * lazily, so a listing pays only for the columns it shows (the disk
 * columns stat image files, the default format does not).
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import type { PropValue } from '../vm/property.js';
import { volumeAttr } from '../vm/volume-config.js';
import { sizeMiB } from './disk-usage.js';
import { flags } from './flags.js';
import { prop, type Row } from './row.js';

/** Column sets of `--format` (reference `formats`). `json` is ours: simple's columns (or --fields), as JSON. */
export const FORMATS: Record<string, readonly string[]> = {
  simple: ['NAME', 'STATE', 'CLASS', 'LABEL', 'TEMPLATE', 'NETVM'],
  network: ['NAME', 'STATE', 'NETVM', 'IP', 'IPBACK', 'GATEWAY'],
  kernel: ['NAME', 'STATE', 'CLASS', 'TEMPLATE', 'KERNEL', 'KERNELOPTS'],
  full: ['NAME', 'STATE', 'CLASS', 'LABEL', 'QID', 'XID', 'UUID'],
  prefs: ['NAME', 'LABEL', 'TEMPLATE', 'NETVM', 'VCPUS', 'INITIALMEM', 'MAXMEM', 'VIRT-MODE'],
  disk: ['NAME', 'STATE', 'DISK', 'PRIV-CURR', 'PRIV-MAX', 'PRIV-USED', 'ROOT-CURR', 'ROOT-MAX', 'ROOT-USED'],
};

export interface Column {
  head: string;
  doc: string;
  value: (r: Row) => PropValue | string[] | undefined;
  /** Needs the hypervisor's runtime state (power state, xid, memory). */
  runtime?: boolean;
}

/** Properties whose values come from the hypervisor (the maxmem default needs the host's memory). */
export const RUNTIME_PROPERTIES: ReadonlySet<string> = new Set(['xid', 'start_time', 'maxmem']);

// A volume the qube does not have counts as empty (0), but one whose pool
// we cannot measure stays unknown: a made-up 0 would sort and sum wrongly.
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

export const BUILTIN_COLUMNS: readonly Column[] = [
  { head: 'NAME', doc: 'Name of the qube.', value: (r) => r.vm.name },
  { head: 'STATE', doc: 'Current power state: Running, Halted, Transient, Paused, Suspended, Halting, Dying, Crashed or NA.', value: (r) => r.info.state, runtime: true },
  { head: 'CLASS', doc: 'Class of the qube (AppVM, TemplateVM, StandaloneVM, DispVM, AdminVM).', value: (r) => r.vm.klass },
  { head: 'LABEL', doc: 'Label (colour) of the qube.', value: (r) => prop(r.vm, 'label') },
  { head: 'TEMPLATE', doc: 'Template the qube is based on.', value: (r) => prop(r.vm, 'template') },
  { head: 'NETVM', doc: 'Qube that provides network to this one.', value: (r) => prop(r.vm, 'netvm') },
  { head: 'GATEWAY', doc: "Network gateway of the qube (its netvm's gateway address).", value: (r) => { const n = r.vm.has('netvm') ? r.vm.netvmVm() : null; return n ? prop(n, 'gateway') : undefined; } },
  { head: 'MEMORY', doc: 'Memory currently used by a running qube, in MiB.', value: (r) => (r.info.state === 'Halted' || r.info.state === 'NA' ? undefined : r.info.memoryMiB), runtime: true },
  {
    head: 'DISK',
    doc: 'Total disk space allocated to all volumes of the qube, in MiB.',
    value: (r) => {
      let sum = 0;
      for (const v of r.vm.volumeConfig) {
        const u = r.volumeUsage(v);
        // one unmeasurable volume makes the total unknown, not smaller
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
    runtime: true,
  },
];
const BUILTIN_BY_HEAD = new Map(BUILTIN_COLUMNS.map((c) => [c.head, c]));

/**
 * A field name (any case, `_` or `-`) → its column: a built-in one or a
 * property of the qube. Any property is accepted, as in the reference, so
 * an unknown name lists as `-` rather than failing.
 */
export function columnFor(field: string): Column {
  const head = field.trim().toUpperCase().replace(/_/g, '-');
  const b = BUILTIN_BY_HEAD.get(head);
  if (b) return b;
  const name = field.trim().toLowerCase().replace(/-/g, '_');
  return { head, doc: '', value: (r) => prop(r.vm, name), runtime: RUNTIME_PROPERTIES.has(name) };
}

type CellValue = PropValue | string[] | undefined;

/** No value to show: missing, none, empty, or an empty list. */
const isMissing = (v: CellValue): v is undefined | null | '' | [] => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

/** Cell text: missing, none and empty ⇒ `-`; lists joined with `,`; booleans as True/False (Python's spelling). */
export function cellText(v: CellValue): string {
  if (isMissing(v)) return '-';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** A cell of `--format json`: the cell text, or null where the table shows `-` for a missing value. */
export const cellJson = (v: CellValue): string | null => (isMissing(v) ? null : cellText(v));
