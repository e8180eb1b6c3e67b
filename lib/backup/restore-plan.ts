// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Which qubes of a backup get restored and under which name: the plan
 * built from the backup's qubes.xml against the host's store, with the
 * problems the reference reports (excluded, name taken, template or netvm
 * missing, dom0 user mismatch), renames, default template/netvm
 * fallbacks, and the summary table.
 * Reference: qubesadmin/backup/restore.py get_restore_info,
 * restore_info_verify, get_restore_summary; spec backup.md §4.4, §7.
 */
import type { Qubes } from '../app/app.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { featureIsTrue } from '../vm/features.js';

export type Problem = 'excluded' | 'already-exists' | 'missing-template' | 'missing-netvm' | 'username-mismatch';

export interface PlanEntry {
  /** The qube in the backup's store. */
  vm: QubesVM;
  name: string;
  /** Name on the host (differs when renamed). */
  restoreName: string;
  klass: string;
  /** `backup-path` (`vm<QID>/`, or `dom0-home/<user>`). */
  subdir: string;
  size: number;
  template?: string;
  /** Template name the backup had, when a default replaced it. */
  origTemplate?: string;
  /** netvm to set: undefined = default, '' = none. */
  netvm?: string;
  /** The backup named a netvm that is dropped for the default. */
  netvmDropped?: boolean;
  problems: Set<Problem>;
  /** dom0 entry: the user of the home in the backup. */
  username?: string;
}

export interface PlanOptions {
  verifyOnly: boolean;
  exclude: string[];
  /** Positional names: everything else is excluded. */
  only: string[];
  renameConflicting: boolean;
  /** --ignore-missing: default template/netvm instead of a problem. */
  useDefaults: boolean;
  restoreHome: boolean;
  ignoreUsernameMismatch: boolean;
  hostUser: string;
}

const isTemplateFor = (vm: QubesVM | undefined, klass: string): boolean =>
  vm !== undefined && (klass === 'DispVM' ? vm.isDispvmTemplate() : vm.klass === 'TemplateVM');

/** Build and check the plan (restore_info_verify runs again whenever a choice changes). */
export function makePlan(backup: Qubes, host: Qubes, o: PlanOptions): PlanEntry[] {
  const entries: PlanEntry[] = [];
  for (const vm of backup.domains.all()) {
    if (!featureIsTrue(vm.features.get('backup-content'))) continue;
    const subdir = vm.features.get('backup-path') ?? '';
    const size = Number(vm.features.get('backup-size') ?? 0) || 0;
    if (vm.klass === 'AdminVM') {
      if (!o.restoreHome) continue;
      const username = subdir.split('/').filter(Boolean).pop() ?? '';
      entries.push({ vm, name: 'dom0', restoreName: 'dom0', klass: 'AdminVM', subdir, size, problems: new Set(), username });
      continue;
    }
    const template = vm.has('template') ? (vm.props.get('template') ?? (vm.get('template') as string | undefined)) : undefined;
    const netvm = vm.props.has('netvm') ? (vm.props.get('netvm') as string) : undefined;
    entries.push({ vm, name: vm.name, restoreName: vm.name, klass: vm.klass, subdir, size, template, netvm, problems: new Set() });
  }
  verifyPlan(entries, host, o);
  return entries;
}

function verifyPlan(entries: PlanEntry[], host: Qubes, o: PlanOptions): void {
  const only = new Set(o.only);
  for (const e of entries) {
    e.problems.clear();
    if (o.exclude.includes(e.name) || (only.size > 0 && !only.has(e.name))) e.problems.add('excluded');
  }
  for (const e of entries) {
    if (e.problems.has('excluded')) continue;
    if (e.klass === 'AdminVM') {
      if (!o.verifyOnly && e.username !== o.hostUser && !o.ignoreUsernameMismatch) e.problems.add('username-mismatch');
      continue;
    }
    e.restoreName = e.name;
    if (!o.verifyOnly && host.domains.get(e.name)) {
      if (o.renameConflicting) {
        const taken = (n: string) => host.domains.get(n) !== undefined || entries.some((x) => x !== e && x.restoreName === n && !x.problems.has('excluded'));
        const cut = e.name.slice(0, 29);
        const candidates = [cut, ...Array.from({ length: 98 }, (_, i) => `${cut}-${i + 1}`)];
        const free = candidates.find((c) => !taken(c));
        if (free) e.restoreName = free;
        else e.problems.add('already-exists');
      } else e.problems.add('already-exists');
    }
  }
  const ok = (x: PlanEntry) => !x.problems.has('excluded') && !x.problems.has('already-exists');
  for (const e of entries) {
    if (e.problems.has('excluded') || e.klass === 'AdminVM') continue;
    const t = e.origTemplate ?? e.template;
    if (t !== undefined) {
      const inPlan = entries.find((x) => x.name === t && ok(x) && x.klass !== 'AdminVM' && isTemplateFor(x.vm, e.klass));
      if (isTemplateFor(host.domains.get(t), e.klass) || inPlan) {
        e.template = inPlan ? inPlan.restoreName : t;
        e.origTemplate = undefined;
      } else {
        const dflt = host.get(e.klass === 'DispVM' ? 'default_dispvm' : 'default_template');
        if (o.useDefaults && typeof dflt === 'string' && dflt !== '') {
          e.origTemplate = t;
          e.template = dflt;
        } else e.problems.add('missing-template');
      }
    }
    if (e.netvm) {
      const n = e.netvm;
      const inPlan = entries.find((x) => x.name === n && ok(x) && x.vm.get('provides_network') === true);
      if (host.domains.get(n)?.get('provides_network') === true || inPlan) {
        e.netvmDropped = false;
      } else if (o.useDefaults) {
        e.netvmDropped = true;
      } else e.problems.add('missing-netvm');
    }
  }
}

/** Entries that will be restored (no problem). */
export const restorable = (plan: PlanEntry[]): PlanEntry[] => plan.filter((e) => e.problems.size === 0);

function suffix(e: PlanEntry): string {
  if (e.problems.has('excluded')) return ' <-- Excluded from restore';
  if (e.problems.has('already-exists')) return ' <-- A VM with the same name already exists on the host!';
  if (e.problems.has('missing-template')) return ' <-- No matching template on the host or in the backup found!';
  if (e.problems.has('missing-netvm')) return ' <-- No matching netvm on the host or in the backup found!';
  if (e.problems.has('username-mismatch')) return ' <-- username in backup and dom0 mismatch';
  let s = '';
  if (e.origTemplate !== undefined) s += ` <-- Template change to '${e.template}'`;
  if (e.restoreName !== e.name) s += ` <-- Will be renamed to '${e.restoreName}'`;
  return s;
}

/** AdminVM (the dom0 home) last, as the summary lists it. */
const summaryOrder = (plan: readonly PlanEntry[]): PlanEntry[] => [...plan.filter((e) => e.klass !== 'AdminVM'), ...plan.filter((e) => e.klass === 'AdminVM')];

const labelOf = (e: PlanEntry): string | undefined => e.vm.props.get('label') ?? (e.vm.get('label') as string | undefined);

/** One entry of the plan, typed (`qvm-backup-restore --format json`; keys in its man page). */
export interface PlanFacts {
  name: string;
  restore_name: string;
  class: string;
  /** The template it gets; null for a class without one. */
  template: string | null;
  /** The backup's template when a default replaced it, else null. */
  original_template: string | null;
  /** The net qube it gets; null for none or the default. */
  netvm: string | null;
  netvm_is_default: boolean;
  label: string | null;
  /** Bytes of data in the backup. */
  size: number;
  problems: Problem[];
}

export function planFacts(plan: readonly PlanEntry[]): PlanFacts[] {
  return summaryOrder(plan).map((e) => {
    const netvmDefault = e.klass === 'AdminVM' || e.netvm === undefined || Boolean(e.netvmDropped);
    return {
      name: e.name,
      restore_name: e.restoreName,
      class: e.klass,
      template: e.template ?? null,
      original_template: e.origTemplate ?? null,
      netvm: netvmDefault || e.netvm === '' ? null : (e.netvm as string),
      netvm_is_default: netvmDefault,
      label: labelOf(e) ?? null,
      size: e.size,
      problems: [...e.problems],
    };
  });
}

/** The table printed before restoring (columns as wide as their widest cell, right-aligned). */
export function planSummary(plan: readonly PlanEntry[]): string {
  const rows = summaryOrder(plan).map((e) => {
    const label = labelOf(e) ?? '';
    const netvm = e.klass === 'AdminVM' || e.netvm === undefined || e.netvmDropped ? '(default)' : e.netvm === '' ? '-' : e.netvm;
    return { cells: [e.name, e.klass, e.vm.has('template') ? (e.origTemplate ?? e.template ?? '(default)') : 'n/a', netvm, label], suffix: suffix(e) };
  });
  const header = ['name', 'type', 'template', 'netvm', 'label'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r.cells[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart((widths[i] as number) + 1) + ' |').join('');
  const rule = widths.map((w) => '-'.repeat(w + 2) + '+').join('');
  return [rule, line(header), rule, ...rows.map((r) => line(r.cells) + r.suffix)].join('\n') + '\n';
}
