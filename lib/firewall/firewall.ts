// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's rules within the store: reading them, changing them under the
 * store lock (so writers of one qube's rules are serialised, and the qube
 * cannot disappear meanwhile), and the expiry sweep that the systemd timer
 * runs.
 *
 * After a change, the reference fires `firewall-changed`, which rewrites
 * the net qube's QubesDB when the qube runs. That write needs the VMM; what
 * it would write is `firewallQdbOps(firewallAddresses(vm), rules, now)`.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Firewall.save,
 * _expire_rules), qubes/api/admin.py (vm.firewall.Get/Set);
 * shared/spec/firewall-and-devices.md A5–A7.
 */
import fs from 'node:fs';
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { QubesError, QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { activeRules, isExpired, nextExpiry } from './expiry.js';
import { firewallPath, hasFirewallFile, loadRules, saveRules } from './firewall-file.js';
import type { QubeAddresses } from './qubesdb-export.js';
import type { Rule } from './rule.js';

function vmOf(app: Qubes, name: string): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  return vm;
}

/** The stored rules of a qube, expired ones included. */
export const storedRules = (app: Qubes, vm: QubesVM): Rule[] => loadRules(firewallPath(app.baseDir, vm));

/** The rules in force (what is listed and exported). */
export const currentRules = (app: Qubes, vm: QubesVM, nowMs: number): Rule[] => activeRules(storedRules(app, vm), nowMs);

/** The qube's addresses its net qube filters by (the real ones, not the visible ones). */
export function firewallAddresses(vm: QubesVM): QubeAddresses {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  return { ip: str(vm.get('ip')), ip6: str(vm.get('ip6')) };
}

/**
 * Replace the rules of qube `vmname` with `change(current rules)`, under the
 * store lock; the file is written even when nothing changed (as the
 * reference's Set does), which also drops expired rules. Returns the rules
 * written.
 * @throws QubesVMNotFoundError, QubesError, or whatever `change` throws (nothing written)
 */
export async function changeRules(store: Store, vmname: string, change: (rules: Rule[]) => Rule[], nowMs: number): Promise<Rule[]> {
  return store.locked((app) => {
    const vm = vmOf(app, vmname);
    const file = firewallPath(app.baseDir, vm);
    return saveRules(file, change(activeRules(loadRules(file), nowMs)), nowMs);
  });
}

/**
 * Give qube `dst` the rules of `src` (qvm-clone), as the reference's client
 * does: the rules in force; `dst` gets a file even when `src` has the
 * default rule. (The reference's client sends them through its text form,
 * which drops prefix-0 destinations; here every destination is kept.) Runs
 * inside the store update that adds `dst` (the caller holds the lock), so a
 * clone is never saved without its rules.
 * @throws QubesError
 */
export function copyRules(app: Qubes, src: QubesVM, dst: QubesVM, nowMs: number): Rule[] {
  return saveRules(firewallPath(app.baseDir, dst), currentRules(app, src, nowMs), nowMs);
}

export interface ExpirySweepResult {
  /** Qubes whose expired rules were dropped: each needs its rules re-exported to its net qube. */
  expired: { vm: QubesVM; removed: number; rules: Rule[] }[];
  /** Qubes whose firewall.xml could not be read or written (the others are still handled). */
  failed: { vm: QubesVM; error: QubesError }[];
}

const qubesWithFile = (app: Qubes): QubesVM[] =>
  app.domains.sorted().filter((vm) => vm.klass !== 'AdminVM' && hasFirewallFile(firewallPath(app.baseDir, vm)));

/**
 * Every qube whose file still holds an expired rule had no export since
 * that rule expired (each save drops expired rules, and each save is an
 * export): drop those rules (unless `dryRun`) and report the qubes.
 * The store lock is taken only when there is something to drop.
 */
export async function sweepExpiredRules(store: Store, nowMs: number, dryRun: boolean): Promise<ExpirySweepResult> {
  const scan = (app: Qubes, save: boolean): ExpirySweepResult => {
    const result: ExpirySweepResult = { expired: [], failed: [] };
    for (const vm of qubesWithFile(app)) {
      try {
        const file = firewallPath(app.baseDir, vm);
        const rules = loadRules(file);
        const removed = rules.filter((r) => isExpired(r, nowMs)).length;
        if (removed === 0) continue;
        result.expired.push({ vm, removed, rules: save ? saveRules(file, rules, nowMs) : activeRules(rules, nowMs) });
      } catch (e) {
        if (!(e instanceof QubesError)) throw e;
        result.failed.push({ vm, error: e });
      }
    }
    return result;
  };
  const preview = scan(store.read(), false);
  if (dryRun || preview.expired.length === 0) return preview;
  return store.locked((app) => scan(app, true));
}

/**
 * The rules files as last read, so that looking at every qube's file again
 * (qubesd's expiry timer, at each store change) reads only the files that
 * changed: one is read again when its inode, size or modification time
 * differ (a save replaces the file, so its inode changes).
 */
export class RuleFileCache {
  private files = new Map<string, { stamp: string; rules: Rule[] | QubesError }>();
  private seen = new Set<string>();

  /** The stored rules of `file` (undefined: no file). @throws QubesError as loadRules */
  rules(file: string): Rule[] | undefined {
    this.seen.add(file);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) {
      this.files.delete(file);
      return undefined;
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    let entry = this.files.get(file);
    if (entry?.stamp !== stamp) {
      let rules: Rule[] | QubesError;
      try {
        rules = loadRules(file);
      } catch (e) {
        if (!(e instanceof QubesError)) throw e;
        rules = e;
      }
      entry = { stamp, rules };
      this.files.set(file, entry);
    }
    if (entry.rules instanceof QubesError) throw entry.rules;
    return entry.rules;
  }

  /** Forget the files not asked for since the last sweep (qubes removed). */
  sweep(): void {
    for (const file of this.files.keys()) if (!this.seen.has(file)) this.files.delete(file);
    this.seen = new Set();
  }
}

/**
 * The earliest second at which a stored rule of any qube expires, among
 * rules not expired yet (undefined: none will). A file that cannot be read
 * counts as having none; the sweep reports it when it runs. With `cache`,
 * only the files changed since its last use are read.
 */
export function nextRuleExpiry(app: Qubes, nowMs: number, cache = new RuleFileCache()): number | undefined {
  let next: number | undefined;
  for (const vm of app.domains.sorted()) {
    if (vm.klass === 'AdminVM') continue;
    let at: number | undefined;
    try {
      const rules = cache.rules(firewallPath(app.baseDir, vm));
      if (rules) at = nextExpiry(rules, nowMs);
    } catch (e) {
      if (!(e instanceof QubesError)) throw e;
    }
    if (at !== undefined && (next === undefined || at < next)) next = at;
  }
  cache.sweep();
  return next;
}

/** The files that hold the qubes' rules (for watching them). */
export const firewallFiles = (app: Qubes): string[] =>
  app.domains.sorted().flatMap((vm) => {
    if (vm.klass === 'AdminVM') return [];
    try {
      return [firewallPath(app.baseDir, vm)];
    } catch {
      return [];
    }
  });
