// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The columns of qvm-ls: the built-in ones (with the text --help-columns
 * shows), property columns for any other field name, the preset column
 * sets of --format, and how a value becomes cell text or a JSON value.
 *
 * A column only says how to get its value from a Row; the Row fetches
 * lazily, so a listing pays only for the columns it shows (the disk
 * columns stat image files, the default format does not). The value is
 * typed (a property's own value, a number of MiB, a list of tags): the
 * table spells it as text, `--format json` prints it as it is, so JSON
 * never re-parses what the table shows. Each column declares the JSON
 * types its value takes; gen-docs writes qvm-ls(1)'s JSON OUTPUT keys from
 * these declarations.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import type { PropType, PropValue } from '../vm/property.js';
import { volumeAttr } from '../vm/volume-config.js';
import { allVmPropertyNames, propertiesFor, VM_CLASSES } from '../vm/vm-properties.js';
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

/** A column's value: a property's own value, a number, a text, a list of texts; undefined where there is none. */
export type CellValue = PropValue | string[] | undefined;

/** The JSON types a column's value takes in `--format json`, as qvm-ls(1) lists them. */
export type JsonType = 'string' | 'number' | 'boolean' | 'array' | 'null';

export interface Column {
  head: string;
  doc: string;
  value: (r: Row) => CellValue;
  /** What the value may be in JSON (null wherever the value may be missing). */
  json: readonly JsonType[];
  /** The JSON value in the man page's words, where `doc` (the table's cell) does not say it. */
  jsonDoc?: string;
  /** The cell text, where the plain spelling of the value (`-` for none, lists joined with `,`) is not what the table shows. */
  text?: (v: CellValue, r: Row) => string;
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

/** Allocated part of a volume in percent; 0 for a volume of no size (or none), as the reference counts it. */
function used(r: Row, name: string): number | undefined {
  const size = sizeMiB(r.volume(name));
  const u = curr(r, name);
  if (u === undefined) return undefined;
  return size === 0 ? 0 : Math.floor((u * 100) / size);
}

const STR: readonly JsonType[] = ['string'];
const STR_OR_NULL: readonly JsonType[] = ['string', 'null'];
const NUM: readonly JsonType[] = ['number'];
const NUM_OR_NULL: readonly JsonType[] = ['number', 'null'];

/** The columns of one volume (PRIV-CURR, ... for the private volume, ROOT-CURR, ... for root), in this order. */
function volumeColumns(prefix: string, name: string): Column[] {
  return [
    { head: `${prefix}-CURR`, doc: `Disk space allocated to the ${name} volume, in MiB.`, json: NUM_OR_NULL, value: (r) => curr(r, name) },
    { head: `${prefix}-MAX`, doc: `Maximum size of the ${name} volume, in MiB.`, json: NUM, value: (r) => sizeMiB(r.volume(name)) },
    {
      head: `${prefix}-USED`,
      doc: `Part of the ${name} volume allocated, in percent.`,
      jsonDoc: `Part of the ${name} volume allocated, in percent, as a number (45 for the table's 45%); 0 for a volume of no size.`,
      json: NUM_OR_NULL,
      value: (r) => used(r, name),
      // the reference prints a bare 0 for a volume of no size, `N%` otherwise
      text: (v, r) => (v === undefined ? '-' : sizeMiB(r.volume(name)) === 0 ? '0' : `${String(v)}%`),
    },
    {
      head: `${prefix}-POOL`,
      doc: `Storage pool of the ${name} volume.`,
      json: STR_OR_NULL,
      value: (r) => {
        const v = r.volume(name);
        return v && volumeAttr(v, 'pool');
      },
    },
  ];
}

export const BUILTIN_COLUMNS: readonly Column[] = [
  { head: 'NAME', doc: 'Name of the qube.', json: STR, value: (r) => r.vm.name },
  {
    head: 'STATE',
    doc: 'Current power state: Running, Halted, Transient, Paused, Suspended, Halting, Dying, Crashed or NA.',
    json: STR,
    value: (r) => r.info.state,
    runtime: true,
  },
  { head: 'CLASS', doc: 'Class of the qube (AppVM, TemplateVM, StandaloneVM, DispVM, AdminVM).', json: STR, value: (r) => r.vm.klass },
  { head: 'LABEL', doc: 'Label (colour) of the qube.', json: STR_OR_NULL, value: (r) => prop(r.vm, 'label') },
  { head: 'TEMPLATE', doc: 'Template the qube is based on.', json: STR_OR_NULL, value: (r) => prop(r.vm, 'template') },
  { head: 'NETVM', doc: 'Qube that provides network to this one.', json: STR_OR_NULL, value: (r) => prop(r.vm, 'netvm') },
  {
    head: 'GATEWAY',
    doc: "Network gateway of the qube (its netvm's gateway address).",
    json: STR_OR_NULL,
    value: (r) => {
      const n = r.vm.has('netvm') ? r.vm.netvmVm() : null;
      return n ? prop(n, 'gateway') : undefined;
    },
  },
  {
    head: 'MEMORY',
    doc: 'Memory currently used by a running qube, in MiB.',
    jsonDoc: 'Memory currently used by the qube, in MiB; null when it is halted or its state is not known (offline mode, libvirt not reachable).',
    json: NUM_OR_NULL,
    value: (r) => (r.info.state === 'Halted' || r.info.state === 'NA' ? undefined : r.info.memoryMiB),
    runtime: true,
  },
  {
    head: 'DISK',
    doc: 'Total disk space allocated to all volumes of the qube, in MiB.',
    jsonDoc: 'Total disk space allocated to all volumes of the qube, in MiB; null when the usage of one of them is not known.',
    json: NUM_OR_NULL,
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
  ...volumeColumns('PRIV', 'private'),
  ...volumeColumns('ROOT', 'root'),
  {
    head: 'TAGS',
    doc: 'Tags of the qube, sorted, comma-separated.',
    jsonDoc: 'Tags of the qube, sorted, as an array of strings; empty when it has none.',
    json: ['array'],
    value: (r) => r.vm.tags.sorted(),
  },
  {
    head: 'FLAGS',
    doc:
      'Eight flags: type (0 AdminVM, a AppVM, d DispVM, s StandaloneVM, t TemplateVM; upper case in HVM mode), ' +
      'power (r running, t transient, p paused, s suspended, h halting, d dying, c crashed), U updateable, ' +
      'N provides network, R installed by package manager, i internal (feature), D debug, A autostart; - where not.',
    jsonDoc: 'The eight flags as the table shows them, one character each (see `--help-columns`), `-` where a flag is not set.',
    json: STR,
    value: flags,
    runtime: true,
  },
];
const BUILTIN_BY_HEAD = new Map(BUILTIN_COLUMNS.map((c) => [c.head, c]));

/** The JSON type of each property type's values: references (qube, label, pool) by name. */
const PROPERTY_JSON: Record<PropType, JsonType> = { str: 'string', uuid: 'string', vm: 'string', label: 'string', pool: 'string', int: 'number', bool: 'boolean' };

/** What a property column may hold: the property's type (the same in every class that has it), or null. */
function propertyJson(name: string): readonly JsonType[] {
  for (const k of VM_CLASSES) {
    const def = propertiesFor(k).get(name);
    if (def) return [PROPERTY_JSON[def.type], 'null'];
  }
  return ['null'];
}

/**
 * A field name (any case, `_` or `-`) → its column: a built-in one or a
 * property of the qube. Any property is accepted, as in the reference, so
 * an unknown name lists as `-` (null in JSON) rather than failing.
 */
export function columnFor(field: string): Column {
  const head = field.trim().toUpperCase().replace(/_/g, '-');
  const b = BUILTIN_BY_HEAD.get(head);
  if (b) return b;
  const name = field.trim().toLowerCase().replace(/-/g, '_');
  return { head, doc: '', json: propertyJson(name), value: (r) => prop(r.vm, name), runtime: RUNTIME_PROPERTIES.has(name) };
}

/** The column of every qube property that no built-in column shadows (for the man page's list of JSON keys). */
export const propertyColumns = (): Column[] => allVmPropertyNames().map(columnFor).filter((c) => !BUILTIN_BY_HEAD.has(c.head));

/** No value to show: missing, none, empty, or an empty list. */
const isMissing = (v: CellValue): boolean => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

/** Text of a value: missing, none and empty ⇒ `-`; lists joined with `,`; booleans as True/False (Python's spelling). */
function plainText(v: CellValue): string {
  if (isMissing(v)) return '-';
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** The table's cell of a column's value in a row (what --raw-data prints and --sort compares). */
export const cellText = (c: Column, v: CellValue, r: Row): string => (c.text ? c.text(v, r) : plainText(v));

/**
 * The value of a column in `--format json`: the typed value itself
 * (numbers, booleans, an array of tags, an empty text as ""), null where
 * there is none. A property column thus holds what `qvm-prefs --format
 * json` gives as the property's value.
 */
export const cellJson = (v: CellValue): PropValue | string[] => (v === undefined ? null : v);
