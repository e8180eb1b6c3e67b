// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Boot modes: named sets of kernel options a template advertises through
 * features, of which a qube boots in one.
 *
 *   boot-mode.kernelopts.MODE     the options MODE appends to the kernel command line
 *   boot-mode.name.MODE           its name for people
 *   boot-mode.default-user.MODE   the user qvm-run uses in MODE
 *   boot-mode.active              the mode this qube boots in unless `bootmode` is set
 *   boot-mode.appvm-default       (template) the mode of the qubes based on it
 *   boot-mode.standalone-default  the mode of a StandaloneVM copied from it
 *
 * The mode `default` always exists and adds nothing. A mode named by a
 * feature or property counts only where its kernel options are found (on
 * the qube or up its template chain); otherwise the next source is asked.
 * Inheritance is looked up, never copied.
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (_default_bootmode,
 * bootmode_kernelopts, get_default_user), qubes/vm/templatevm.py
 * (appvm_default_bootmode), qubes/vm/standalonevm.py
 * (on_domain_import_volume), qubes/ext/core_features.py (requests).
 */
import { checkWithTemplate } from './features.js';
import type { QubesVM } from './qubes-vm.js';

export const DEFAULT_MODE = 'default';
const PREFIX = 'boot-mode.';
const MAX_BOOT_MODE_FEATURES = 64;

const kerneloptsOf = (vm: QubesVM, mode: string): string | undefined => checkWithTemplate(vm, `${PREFIX}kernelopts.${mode}`);
const str = (v: unknown): string => (typeof v === 'string' ? v : String(v ?? ''));

/** A mode this qube can boot in: `default`, or one with kernel options. */
const usable = (vm: QubesVM, mode: string): boolean => mode === DEFAULT_MODE || kerneloptsOf(vm, mode) !== undefined;

/**
 * Default of `bootmode`: the qube's own `boot-mode.active`, else the
 * nearest template's `appvm_default_bootmode` along the template chain
 * (each counted only when usable by the qube asking), else `default`.
 */
export function defaultBootmode(vm: QubesVM): string {
  const active = vm.features.get(`${PREFIX}active`);
  if (active !== undefined && usable(vm, active)) return active;
  for (let subject: QubesVM | null = vm; subject?.has('template'); subject = subject.templateVm()) {
    const tpl = subject.templateVm();
    if (!tpl) break;
    if (!tpl.has('appvm_default_bootmode')) continue;
    const mode = str(tpl.get('appvm_default_bootmode'));
    if (usable(subject, mode)) return mode;
  }
  return DEFAULT_MODE;
}

/** Default of a template's `appvm_default_bootmode`: its `boot-mode.appvm-default` feature. */
export const defaultAppvmBootmode = (tpl: QubesVM): string => tpl.features.get(`${PREFIX}appvm-default`) ?? DEFAULT_MODE;

/**
 * What the qube's boot mode appends to its kernel command line: a space
 * and the mode's options, or nothing for `default`. A `bootmode` without
 * options of its own falls back to the default mode's.
 */
export function bootmodeKernelopts(vm: QubesVM): string {
  const mode = str(vm.get('bootmode'));
  if (mode === DEFAULT_MODE) return '';
  let opts = kerneloptsOf(vm, mode);
  if (opts === undefined) {
    const fallback = defaultBootmode(vm);
    if (fallback === DEFAULT_MODE) return '';
    opts = kerneloptsOf(vm, fallback);
    if (opts === undefined) return '';
  }
  return ` ${opts}`;
}

/** The user a qube's services run as by default: the boot mode's, else `default_user`. */
export function bootmodeDefaultUser(vm: QubesVM): string {
  const mode = str(vm.get('bootmode'));
  const byMode = mode === DEFAULT_MODE ? undefined : checkWithTemplate(vm, `${PREFIX}default-user.${mode}`);
  return byMode ?? str(vm.get('default_user'));
}

/**
 * After a StandaloneVM got its root volume from another qube: boot in the
 * mode the copied features name as `boot-mode.standalone-default`, when usable.
 */
export function applyStandaloneDefault(vm: QubesVM): void {
  if (vm.klass !== 'StandaloneVM') return;
  const mode = vm.features.get(`${PREFIX}standalone-default`);
  if (mode === undefined) return;
  if (mode === DEFAULT_MODE || vm.features.has(`${PREFIX}kernelopts.${mode}`)) vm.features.set(`${PREFIX}active`, mode);
}

/** `boot-mode.KIND.MODE` → [KIND, MODE]; anything else (more or fewer dots, empty MODE) → undefined. */
function splitKey(key: string): [string, string] | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'boot-mode' || parts[2] === '') return undefined;
  return [parts[1] as string, parts[2] as string];
}

/**
 * A qube's request to advertise its boot modes (qubes.FeaturesRequest,
 * from a qube with its own root). The modes (kernel options, names,
 * default users) replace the old ones as a group, and only when the
 * request names at least one, at most 64 entries, and no name twice;
 * a name or user for a mode without options is dropped. Then the
 * active, AppVM and standalone defaults are taken when they name a mode
 * the qube now has (or `default`). Returns what was ignored.
 */
export function applyBootModeRequest(vm: QubesVM, untrusted: [string, string][]): string[] {
  const log: string[] = [];
  const requested = new Map<string, string>();
  for (const [k, v] of untrusted) {
    const s = splitKey(k);
    if (s && s[0] === 'kernelopts' && s[1] !== DEFAULT_MODE) requested.set(k, v);
  }
  const shownNames: string[] = [];
  for (const [k, v] of untrusted) {
    const s = splitKey(k);
    if (!s || (s[0] !== 'name' && s[0] !== 'default-user')) continue;
    const [kind, mode] = s;
    if (mode !== DEFAULT_MODE && !requested.has(`${PREFIX}kernelopts.${mode}`)) continue;
    if (kind === 'default-user' && mode === DEFAULT_MODE) continue;
    requested.set(k, v);
    // the reference counts users among the names when it looks for duplicates
    shownNames.push(v);
  }
  if (requested.size > 0 && requested.size <= MAX_BOOT_MODE_FEATURES && new Set(shownNames).size === shownNames.length) {
    for (const [k] of vm.features.entries()) {
      const s = splitKey(k);
      if (s && ['kernelopts', 'name', 'default-user'].includes(s[0]) && !requested.has(k)) vm.features.delete(k);
    }
    for (const [k, v] of requested) vm.features.set(k, v);
  } else if (requested.size > 0) {
    log.push(`${vm.name}: boot modes not changed (more than ${MAX_BOOT_MODE_FEATURES} entries, or a name given twice)`);
  }
  const choice = (key: string) => untrusted.find(([k]) => k === `${PREFIX}${key}`)?.[1];
  for (const key of ['active', 'appvm-default', 'standalone-default']) {
    const mode = choice(key);
    if (mode === undefined) continue;
    if (key === 'appvm-default' && !vm.has('appvm_default_bootmode')) continue;
    if (mode === DEFAULT_MODE || vm.features.has(`${PREFIX}kernelopts.${mode}`)) vm.features.set(`${PREFIX}${key}`, mode);
    else log.push(`${vm.name}: ignoring ${PREFIX}${key}=${mode}: no such boot mode`);
  }
  return log;
}
