// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Features a qube asks for about itself (qubes.FeaturesRequest and the
 * older qubes.NotifyTools: what its agent supports, its OS). The qube is
 * not trusted. The entry point (the misc socket's methods) refuses a
 * request with any value outside VALUE_RE before anything is applied; here
 * each feature has its own rule:
 *
 *   - requests from template-based qubes are ignored (their root comes from
 *     the template), except `supported-rpc.*`;
 *   - `supported-service.*`, `supported-feature.*`, `supported-rpc.*`: the
 *     entries asked with value `1` replace those set before; a request
 *     naming none of a group changes nothing of it;
 *   - `qrexec`, `gui`, `gui-emulated` (`0`/`1`) only when not set yet: a
 *     template can never override what the user (or an earlier request)
 *     set; `qubes-firewall`, `vmexec` (`0`/`1`) every time;
 *   - OS facts when non-empty and well formed; `anon-timezone` can be
 *     turned on, never off; boot modes as a group (boot-modes.ts);
 *   - `os` (`Windows`/`Linux`, from Qubes Windows Tools), and for Windows
 *     with qrexec the settings those tools need.
 *
 * The order of the changes is the reference's (its synchronous handlers,
 * the supported-* groups, run before the core one), which decides the
 * order of the features in qubes.xml.
 *
 * Reference: qubes-core-admin: qubes/ext/core_features.py, services.py,
 * supported_features.py, windows.py; qubes/api/misc.py;
 * shared/spec/store-and-core-tools.md §5.3.
 */
import { applyBootModeRequest } from './boot-modes.js';
import { checkWithTemplate, featureIsTrue } from './features.js';
import type { QubesVM } from './qubes-vm.js';

/** What a FeaturesRequest value may hold (the entry point refuses anything else). */
export const REQUEST_VALUE_RE = /^[A-Za-z0-9\-.,_= ]*$/;
const SET_ONCE = ['qrexec', 'gui', 'gui-emulated'];
const ALWAYS = ['qubes-firewall', 'vmexec'];
const AGENT_VERSION_RE = /^[0-9]{1,3}\.[0-9]{1,3}$/;

/** A calendar date YYYY-MM-DD (years 1 to 9999, as Python's date). */
function validEol(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1) return false;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * The group `prefix` becomes the entries asked with value "1": new ones
 * set, those set (non-empty) before and not asked any more removed. No
 * entry asked: nothing changes. Returns what was added and removed.
 */
function replaceGroup(vm: QubesVM, prefix: string, untrusted: [string, string][]): { added: string[]; removed: string[] } {
  const wanted = new Set(untrusted.filter(([k, v]) => k.startsWith(prefix) && v === '1').map(([k]) => k));
  if (wanted.size === 0) return { added: [], removed: [] };
  const had = new Set(vm.features.entries().filter(([k, v]) => k.startsWith(prefix) && featureIsTrue(v)).map(([k]) => k));
  const added = [...wanted].filter((k) => !had.has(k));
  const removed = [...had].filter((k) => !wanted.has(k));
  for (const k of added) vm.features.set(k, true);
  for (const k of removed) vm.features.delete(k);
  return { added, removed };
}

function supportedServices(vm: QubesVM, untrusted: [string, string][]): void {
  const { added, removed } = replaceGroup(vm, 'supported-service.', untrusted);
  // AppArmor is turned on with the agent's support for it, and off with it unless the user changed it
  if (added.includes('supported-service.apparmor') && !vm.features.has('apparmor')) vm.features.set('apparmor', true);
  if (removed.includes('supported-service.apparmor') && vm.features.get('apparmor') === '1') vm.features.delete('apparmor');
}

/** Qubes Windows Tools: the OS, and what a Windows qube with qrexec needs unless set (on the qube or its template). */
function windowsTools(vm: QubesVM, untrusted: Map<string, string>): void {
  const os = untrusted.get('os');
  if (os !== 'Windows' && os !== 'Linux') return;
  vm.features.set('os', os);
  if (os !== 'Windows' || untrusted.get('qrexec') !== '1') return;
  vm.features.set('rpc-clipboard', true);
  vm.set('maxmem', '0');
  vm.set('qrexec_timeout', '6000');
  const unset = (f: string) => checkWithTemplate(vm, f) === undefined;
  if (unset('stubdom-qrexec')) vm.features.set('stubdom-qrexec', true);
  if (unset('audio-model')) vm.features.set('audio-model', 'ich6');
  if (unset('timezone')) vm.features.set('timezone', 'localtime');
  if (unset('no-monitor-layout')) vm.features.set('no-monitor-layout', true);
}

function coreFeatures(vm: QubesVM, untrusted: Map<string, string>, entries: [string, string][], log: string[]): void {
  const given = (k: string) => {
    const v = untrusted.get(k);
    return v === undefined || v === '' ? undefined : v;
  };
  for (const k of ['os-distribution', 'os-distribution-like']) {
    const v = given(k);
    if (v !== undefined) vm.features.set(k, v);
  }
  const version = given('os-version');
  if (version !== undefined) {
    if (/^[0-9][0-9.-]*$/.test(version)) vm.features.set('os-version', version);
    else log.push(`${vm.name}: ignoring invalid os-version '${version}'`);
  }
  const eol = given('os-eol');
  if (eol !== undefined) {
    if (validEol(eol)) vm.features.set('os-eol', eol);
    else log.push(`${vm.name}: ignoring invalid os-eol '${eol}', expected YYYY-MM-DD`);
  }
  const agent = untrusted.get('qubes-agent-version');
  if (agent !== undefined) {
    if (AGENT_VERSION_RE.test(agent)) vm.features.set('qubes-agent-version', agent);
    else log.push(`${vm.name}: ignoring invalid qubes-agent-version '${agent}'`);
  }
  log.push(...applyBootModeRequest(vm, entries.filter(([k]) => k.startsWith('boot-mode.'))));
  if (untrusted.get('anon-timezone') === '1') vm.features.set('anon-timezone', true);
  const bit = (k: string) => {
    const v = untrusted.get(k);
    return v === '1' || v === '0' ? v === '1' : undefined;
  };
  for (const k of SET_ONCE) {
    const v = bit(k);
    if (v !== undefined && !vm.features.has(k)) vm.features.set(k, v);
  }
  for (const k of ALWAYS) {
    const v = bit(k);
    if (v !== undefined) vm.features.set(k, v);
  }
}

/**
 * Apply a feature request from `vm` (values already checked against
 * REQUEST_VALUE_RE by the entry point; one that is not is left out here
 * too). Returns what was ignored and why (the reference logs these).
 */
export function applyFeatureRequest(vm: QubesVM, request: Record<string, string>): string[] {
  const log: string[] = [];
  const entries = Object.entries(request).filter(([k, v]) => {
    if (REQUEST_VALUE_RE.test(v)) return true;
    log.push(`${vm.name}: ignoring ${k}: value has characters outside [A-Za-z0-9-.,_= ]`);
    return false;
  });
  const untrusted = new Map(entries);
  // supported-rpc.* is taken from any qube; the rest only from qubes with their own root
  replaceGroup(vm, 'supported-rpc.', entries);
  if (vm.templateVm() !== null) {
    if (entries.some(([k]) => !k.startsWith('supported-rpc.'))) log.push(`${vm.name}: ignoring feature request from a template-based qube`);
    return log;
  }
  supportedServices(vm, entries);
  replaceGroup(vm, 'supported-feature.', entries);
  windowsTools(vm, untrusted);
  coreFeatures(vm, untrusted, entries, log);
  return log;
}
