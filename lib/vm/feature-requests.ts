// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Features a qube asks for about itself (qubes.FeaturesRequest: what its
 * agent supports, its OS). The qube is not trusted: values are limited to a
 * small alphabet, each feature has its own rule, and requests from
 * template-based qubes are ignored (their root comes from the template),
 * except `supported-rpc.*`. A template can never override `qrexec`, `gui`
 * or `gui-emulated` once set (by the user or an earlier request).
 *
 * Reference: qubes-core-admin: qubes/ext/core_features.py, services.py,
 * supported_features.py; shared/spec/store-and-core-tools.md §5.3.
 */
import { applyBootModeRequest } from './boot-modes.js';
import type { QubesVM } from './qubes-vm.js';

const VALUE_RE = /^[A-Za-z0-9\-.,_= ]*$/;
const SET_ONCE = ['qrexec', 'gui', 'gui-emulated'];
const ALWAYS = ['qubes-firewall', 'vmexec'];
const OS_TEXT = ['os-distribution', 'os-distribution-like'];
const SUPPORTED_GROUPS = ['supported-service.', 'supported-feature.', 'supported-rpc.'];

function validEol(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** Replace every feature with `prefix` by the requested ones whose value is "1". */
function replaceGroup(vm: QubesVM, prefix: string, requested: [string, string][]): void {
  const wanted = new Set(requested.filter(([, v]) => v === '1').map(([k]) => k));
  for (const [k] of vm.features.entries()) if (k.startsWith(prefix) && !wanted.has(k)) vm.features.delete(k);
  for (const k of wanted) if (vm.features.get(k) !== '1') vm.features.set(k, '1');
}

/**
 * Apply a feature request from `vm`. Returns what was ignored and why (the
 * reference logs these).
 */
export function applyFeatureRequest(vm: QubesVM, untrusted: Record<string, string>): string[] {
  const log: string[] = [];
  const entries = Object.entries(untrusted).filter(([k, v]) => {
    if (VALUE_RE.test(v)) return true;
    log.push(`${vm.name}: ignoring ${k}: value has characters outside [A-Za-z0-9-.,_= ]`);
    return false;
  });
  const templateBased = vm.has('template');
  const group = (prefix: string) => entries.filter(([k]) => k.startsWith(prefix));

  // supported-rpc.* is accepted from any qube; the rest only from qubes with their own root.
  for (const prefix of SUPPORTED_GROUPS) {
    const requested = group(prefix);
    if (requested.length === 0) continue;
    if (templateBased && prefix !== 'supported-rpc.') {
      log.push(`${vm.name}: ignoring ${prefix}* request from a template-based qube`);
      continue;
    }
    replaceGroup(vm, prefix, requested);
  }
  if (templateBased) {
    if (entries.some(([k]) => !SUPPORTED_GROUPS.some((p) => k.startsWith(p))))
      log.push(`${vm.name}: ignoring feature request from a template-based qube`);
    return log;
  }

  for (const [k, v] of entries) {
    if (SET_ONCE.includes(k)) {
      if (!vm.features.has(k)) vm.features.set(k, v === '1');
    } else if (ALWAYS.includes(k)) {
      vm.features.set(k, v === '1');
    } else if (OS_TEXT.includes(k)) {
      vm.features.set(k, v);
    } else if (k === 'os-version') {
      if (/^\d[\d.-]*$/.test(v)) vm.features.set(k, v);
      else log.push(`${vm.name}: ignoring invalid os-version '${v}'`);
    } else if (k === 'os-eol') {
      if (validEol(v)) vm.features.set(k, v);
      else log.push(`${vm.name}: ignoring invalid os-eol '${v}'`);
    } else if (k === 'qubes-agent-version') {
      if (/^\d+\.\d+$/.test(v)) vm.features.set(k, v);
      else log.push(`${vm.name}: ignoring invalid qubes-agent-version '${v}'`);
    } else if (k === 'anon-timezone') {
      if (v === '1') vm.features.set(k, true); // can be turned on, never off
    }
  }

  log.push(...applyBootModeRequest(vm, group('boot-mode.')));
  return log;
}
