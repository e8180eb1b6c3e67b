// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * buildFilter: one predicate over rows from the filter options of qvm-ls
 * (--class, --label, --tags, --exclude-tags, --template-source, --netvm-is,
 * --internal, --servicevm, --pending-update, --features, --prefs and the
 * power states). All options must hold; within one option any value may.
 *
 * Each test is built once from the options, and only for the options
 * given, so rows pay only for the filters in use and the default listing
 * pays nothing.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import type { PropValue } from '../vm/property.js';
import { featureTrue, prop, type Row } from './row.js';

export interface FilterOptions {
  class?: string[];
  label?: string[];
  tags?: string[];
  excludeTags?: string[];
  templateSource?: string[];
  netvmIs?: string[];
  internal?: string;
  servicevm?: string;
  pendingUpdate?: boolean;
  /** NAME=VALUE pairs of --features, already split. */
  features: [string, string][];
  /** NAME=VALUE pairs of --prefs, already split. */
  prefs: [string, string][];
  running?: boolean;
  paused?: boolean;
  halted?: boolean;
}

// `NAME=` already means "unset", so the empty value needs another spelling:
// quotes the user escaped past the shell ('' or "").
const isQuotedEmpty = (v: string) => v === '""' || v === "''";

/** String form of a property for --prefs, as the user sees it in Python's str(): True/False, numbers, names. */
function propString(v: PropValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

// "" in --template-source / --netvm-is must match qubes that have none
const cellOrEmpty = (v: PropValue | undefined): string => (v === undefined || v === null ? '' : String(v));

export function buildFilter(opts: FilterOptions): (r: Row) => boolean {
  const tests: ((r: Row) => boolean)[] = [];
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
  for (const [k, v] of opts.features) {
    if (v === '') tests.push((r) => r.vm.features.get(k) === undefined);
    else {
      const want = isQuotedEmpty(v) ? '' : v;
      tests.push((r) => r.vm.features.get(k) === want);
    }
  }
  for (const [k, v] of opts.prefs) {
    const name = k.replace(/-/g, '_');
    // a property the class lacks never matches, not even NAME= (unset)
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
