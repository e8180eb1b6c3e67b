// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Rules of disposable templates (qubes with template_for_dispvms): when
 * the property may be turned off, which disposables are preloaded, and
 * the values the preload-dispvm* features accept.
 *
 * Reference: qubes-core-admin: qubes/vm/mix/dvmtemplate.py,
 * qubes/vm/adminvm.py (the dom0 preload features), qubes/vm/dispvm.py
 * (is_preload), qubes/app.py get_qube_prop_deps.
 */
import { QubesValueError, QubesVMInUseError, QubesVMNotHaltedError, VmmError } from '../errors.js';
import { checkWithTemplate, featureIsTrue } from './features.js';
import type { QubesVM } from './qubes-vm.js';

/** RPC services a qube must offer before disposables are preloaded from it. */
const PRELOAD_RPCS = ['qubes.WaitForRunningSystem', 'qubes.WaitForSession'];

/** Names in a template's `preload-dispvm` feature (space-separated). */
export function preloadList(tpl: QubesVM | null): string[] {
  const v = tpl?.features.get('preload-dispvm');
  return v ? v.split(' ') : [];
}

/** A disposable its template lists as preloaded. */
export const isPreloaded = (dispvm: QubesVM): boolean => preloadList(dispvm.templateVm()).includes(dispvm.name);

/**
 * template_for_dispvms may not go from on to off while anything names the
 * qube as a disposable template: a global default_dispvm or
 * management_dispvm, or another qube's own (non-default) default_dispvm,
 * management_dispvm or template (a disposable's). Preloaded disposables do
 * not count: they go with the template.
 * @throws QubesVMInUseError naming every user
 */
export function refuseTemplateForDispvmsOff(vm: QubesVM): void {
  if (vm.get('template_for_dispvms') !== true) return;
  const users: string[] = [];
  for (const u of vm.app.usagesOf(vm)) {
    if (u.holder === null) {
      if (u.prop === 'default_dispvm' || u.prop === 'management_dispvm') users.push(`global ${u.prop}`);
      continue;
    }
    if (!['default_dispvm', 'management_dispvm', 'template'].includes(u.prop)) continue;
    if (u.holder.klass === 'DispVM' && isPreloaded(u.holder) && (u.prop === 'template' || u.holder.templateVm() === vm)) continue;
    users.push(`${u.holder.name} (${u.prop})`);
  }
  if (users.length)
    throw new QubesVMInUseError(
      `template_for_dispvms of ${vm.name} cannot be turned off while it is used as a disposable template by: ${users.join(', ')}`,
    );
}

/**
 * The power state the hypervisor last reported in this command; undefined
 * offline or when the command did not ask (a qube being created): the
 * checks that need it are then the hypervisor's to fail at start.
 */
function knownState(vm: QubesVM): string | undefined {
  if (vm.app.vmm.offline) return undefined;
  try {
    return vm.app.vmm.info(vm).state;
  } catch (e) {
    if (e instanceof VmmError) return undefined;
    throw e;
  }
}

/** The disposables based on `tpl` (their `template` names it). */
export const disposablesOf = (tpl: QubesVM): QubesVM[] =>
  tpl.app.usagesOf(tpl).flatMap((u) => (u.holder?.klass === 'DispVM' && u.prop === 'template' ? [u.holder] : []));

/**
 * A qube's template may not change while the qube runs, nor, for a
 * disposable template, while disposables started from it run (they would
 * keep the old root until they stop; preloaded ones do not count, they go
 * with the template). The caller asks the hypervisor about the qube and
 * its disposables first (see the tools' property actions).
 * @throws QubesVMNotHaltedError, QubesVMInUseError
 */
export function refuseTemplateChange(vm: QubesVM, next: string): void {
  const state = knownState(vm);
  if (state !== undefined && state !== 'Halted') throw new QubesVMNotHaltedError('Cannot change template while qube is running');
  if (!vm.isDispvmTemplate() || vm.props.get('template') === next) return;
  const running = disposablesOf(vm).filter((d) => !isPreloaded(d) && (knownState(d) ?? 'Halted') !== 'Halted');
  if (running.length)
    throw new QubesVMInUseError(
      `Cannot change template while there are running disposables based on this disposable template: ${running.map((d) => d.name).join(', ')}`,
    );
}

const DIGITS_RE = /^[0-9]+$/;
// Python's float(): decimal with optional fraction and exponent, digits may be grouped by single underscores; inf, infinity, nan
const DIGITS = '[0-9](?:_?[0-9])*';
const FLOAT_RE = new RegExp(`^\\s*[+-]?(?:(?:${DIGITS})?\\.${DIGITS}(?:[eE][+-]?${DIGITS})?|${DIGITS}\\.?(?:[eE][+-]?${DIGITS})?|inf|infinity|nan)\\s*$`, 'i');

/** What `preload-dispvm-max` needs of the qube it is set on (for dom0's: of the global default_dispvm). */
function checkPreloadMax(tpl: QubesVM, value: string): void {
  if (!featureIsTrue(checkWithTemplate(tpl, 'qrexec')))
    throw new QubesValueError(`Cannot preload disposables of ${tpl.name}: it does not support qrexec (feature qrexec)`);
  const missing = PRELOAD_RPCS.filter((rpc) => !featureIsTrue(checkWithTemplate(tpl, `supported-rpc.${rpc}`)));
  if (missing.length)
    throw new QubesValueError(`Cannot preload disposables of ${tpl.name}: it does not offer the RPC service(s) ${missing.join(', ')}`);
  if (!DIGITS_RE.test(value || '0'))
    throw new QubesValueError(`Invalid preload-dispvm-max value: '${value}' (a number of disposables, digits only)`);
}

/**
 * The preload list may only shrink or stay within preload-dispvm-max, name
 * each qube once, and name existing disposables of this template.
 */
function checkPreloadList(tpl: QubesVM, value: string, old: string | undefined): void {
  const next = value ? value.split(' ') : [];
  const before = old ? old.split(' ') : [];
  if (next.length === 0 || [...next].sort().join(' ') === [...before].sort().join(' ')) return;
  const max = Number(preloadMax(tpl));
  if (next.length > Math.max(max, before.length))
    throw new QubesValueError(`Invalid preload-dispvm value: ${next.length} qubes, more than before (${before.length}) and than preload-dispvm-max (${max})`);
  const twice = [...new Set(next.filter((n, i) => next.indexOf(n) !== i))];
  if (twice.length) throw new QubesValueError(`Invalid preload-dispvm value: named more than once: ${twice.join(', ')}`);
  const added = [...new Set(next)].filter((n) => !before.includes(n));
  const unknown = added.filter((n) => !tpl.app.domains.get(n));
  if (unknown.length) throw new QubesValueError(`Invalid preload-dispvm value: no such qube: ${unknown.join(', ')}`);
  const foreign = added.filter((n) => tpl.app.domains.get(n)?.templateVm() !== tpl);
  if (foreign.length) throw new QubesValueError(`Invalid preload-dispvm value: not disposables of ${tpl.name}: ${foreign.join(', ')}`);
}

/** The number of disposables to keep preloaded: dom0's feature for the global default_dispvm, else its own. */
function preloadMax(tpl: QubesVM): string {
  const dom0 = tpl.app.adminVm;
  const global = tpl.app.get('default_dispvm') === tpl.name ? dom0?.features.get('preload-dispvm-max') : undefined;
  return (global ?? tpl.features.get('preload-dispvm-max')) || '0';
}

/**
 * Refuse a value of a preload-dispvm* feature as the reference's core does
 * before setting it: on disposable templates (AppVM, StandaloneVM) and on
 * dom0 (global settings); other qubes take any value.
 * @throws QubesValueError
 */
export function checkPreloadFeature(vm: QubesVM, name: string, value: string): void {
  const old = vm.features.get(name);
  const dvmTemplate = vm.has('template_for_dispvms');
  const dom0 = vm.klass === 'AdminVM';
  if (name === 'preload-dispvm-max') {
    if (dvmTemplate) checkPreloadMax(vm, value);
    else if (dom0 && value !== old) {
      const target = vm.app.get('default_dispvm');
      const tpl = typeof target === 'string' ? vm.app.domains.get(target) : undefined;
      if (tpl) checkPreloadMax(tpl, value);
    }
  } else if (name === 'preload-dispvm-delay') {
    if ((dvmTemplate || dom0) && value !== old && !FLOAT_RE.test(value || '0'))
      throw new QubesValueError(`Invalid preload-dispvm-delay value: '${value}' (a number of seconds)`);
  } else if (name === 'preload-dispvm-threshold') {
    if (dom0 && !DIGITS_RE.test(value || '0'))
      throw new QubesValueError(`Invalid preload-dispvm-threshold value: '${value}' (MiB, digits only)`);
  } else if (name === 'preload-dispvm') {
    if (dvmTemplate) checkPreloadList(vm, value, old);
  }
}
