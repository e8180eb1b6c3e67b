// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What qvm-prefs and qubes-prefs share: list, get, set and reset the
 * properties of one holder (a qube, or the global settings).
 * Reference: qubesadmin/tools/qvm_prefs.py process_actions; spec §9.
 */
import type { Qubes } from '../../app/app.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { QubesNoSuchPropertyError, VmmError } from '../../errors.js';
import type { AnyPropertyDef, PropertyHolder, PropValue } from '../../vm/property.js';
import { disposablesOf } from '../../vm/dispvm-template.js';
import { changeProperty } from '../../ops/autostart.js';
import { commandRunner } from '../../storage/command-runner.js';
import { UsageError } from './errors.js';
import { FORMAT_OPTION, orNull, refuseJson, wantsJson, writeJson, type FormatOpts, type JsonValue } from './json-output.js';
import type { Context } from './program.js';
import type { OptionSpec } from './spec.js';
import { wrapWords } from './text.js';

/** Methods both Qubes and QubesVM have. */
export interface Holder extends PropertyHolder {
  get(name: string): PropValue | undefined;
  isDefault(name: string): boolean;
  set(name: string, untrusted: string): void;
  reset(name: string): void;
}

export const PROPERTY_OPTIONS: OptionSpec[] = [
  { flags: '--help-properties', description: 'list all available properties with a short explanation and exit' },
  { flags: '--hide-default', description: 'do not show properties that are set to their default value' },
  { flags: '-D, --default', description: 'reset the property to its default value' },
  { flags: '-g, --get', description: 'ignored; for compatibility with older scripts', hidden: true },
  { flags: '-s, --set', description: 'ignored; for compatibility with older scripts', hidden: true },
  FORMAT_OPTION,
];

export interface PropertyOpts extends FormatOpts {
  helpProperties?: boolean;
  hideDefault?: boolean;
  default?: boolean;
}

/** Text of a value as listings and get print it; undefined means "no value". */
function displayValue(def: AnyPropertyDef, v: PropValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v === null) return def.type === 'vm' || def.type === 'label' ? 'None' : '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** A default that needs the hypervisor, which is unavailable, reads as no value; other errors propagate. */
function safeGet(h: Holder, name: string): PropValue | undefined {
  try {
    return h.get(name);
  } catch (e) {
    if (e instanceof VmmError) return undefined;
    throw e;
  }
}

export function helpProperties(defs: ReadonlyMap<string, AnyPropertyDef>): string {
  const names = [...defs.keys()].sort();
  const width = Math.max(...names.map((n) => n.length));
  const indent = width + 6;
  return names.map((n) => `  ${n.padEnd(width)}  ${wrapWords(defs.get(n)?.doc ?? '', 80 - indent).join(`\n${' '.repeat(indent)}`)}\n`).join('');
}

/** One property as JSON (see JSON OUTPUT in qvm-prefs(1)): a value that cannot be had (U in the list), or none, is null. */
function propertyJson(h: Holder, name: string): { [key: string]: JsonValue } {
  return { name, value: orNull(safeGet(h, name)), is_default: h.isDefault(name) };
}

function listJson(h: Holder, hideDefault: boolean): JsonValue {
  return [...h.defs.keys()].sort().filter((n) => !(hideDefault && h.isDefault(n))).map((n) => propertyJson(h, n));
}

function listProperties(h: Holder, hideDefault: boolean): string {
  const names = [...h.defs.keys()].sort();
  const width = Math.max(...names.map((n) => n.length));
  let out = '';
  for (const n of names) {
    const def = h.defs.get(n) as AnyPropertyDef;
    const isDef = h.isDefault(n);
    if (hideDefault && isDef) continue;
    const shown = displayValue(def, safeGet(h, n));
    if (shown === undefined) out += `${n.padEnd(width)}  U\n`;
    else out += `${n.padEnd(width)}  ${isDef ? 'D' : '-'}  ${shown}\n`;
  }
  return out;
}

/**
 * Run the property actions against the holder `select` picks from the
 * store: list (no property), get, set (value), reset (--default).
 */
/** Properties a running qube's hypervisor state decides (asked only when one is read alone). */
const RUNTIME_PROPERTIES = new Set(['xid', 'start_time', 'maxmem']);

/**
 * Ask the hypervisor for a qube's state before reading a runtime property,
 * so `qvm-prefs VM start_time` works online; unreachable leaves it unknown
 * (other properties never connect).
 */
async function fetchRuntime(app: Qubes, h: Holder, property: string): Promise<void> {
  if (!RUNTIME_PROPERTIES.has(property) || !('app' in h) || !('klass' in h)) return;
  const vm = h as unknown as QubesVM;
  if (app.vmm.offline) return;
  try {
    await app.vmm.refresh([vm]);
  } catch (e) {
    if (!(e instanceof VmmError)) throw e;
  }
}

/**
 * A template may not change while its qube, or a disposable started from
 * it, runs (lib/vm/dispvm-template.ts): ask the hypervisor about them
 * first. Offline, nothing is asked and nothing is refused.
 */
async function fetchTemplateUsers(app: Qubes, h: Holder): Promise<void> {
  if (app.vmm.offline || !('klass' in h) || !h.defs.has('template')) return;
  const vm = h as unknown as QubesVM;
  await app.vmm.refresh([vm, ...disposablesOf(vm)]);
}

export async function propertyActions(
  ctx: Context,
  opts: PropertyOpts,
  rawProperty: string | undefined,
  value: string | undefined,
  select: (app: Qubes) => Holder,
): Promise<void> {
  if (opts.default && rawProperty === undefined) throw new UsageError('--default requires a property');
  if (opts.default && value !== undefined) throw new UsageError('cannot both set and reset a property');
  const property = rawProperty?.replace(/-/g, '_');

  if (value !== undefined || opts.default) {
    refuseJson(opts, opts.default ? 'a reset' : 'setting a value');
    let warning: string | undefined;
    await ctx.store().update(async (app) => {
      const h = select(app);
      if (property === 'template' && value !== undefined) await fetchTemplateUsers(app, h);
      await changeProperty(commandRunner(ctx.env), h, property as string, opts.default ? 'reset' : 'set', () =>
        opts.default ? h.reset(property as string) : h.set(property as string, value as string),
      );
      warning = memoryWarning(h, property as string);
    });
    if (warning) ctx.err(`${ctx.prog}: warning: ${warning}\n`);
    return;
  }

  const app = ctx.store().read();
  const h = select(app);
  if (property === undefined) {
    if (wantsJson(opts)) writeJson(ctx, listJson(h, opts.hideDefault === true));
    else ctx.out(listProperties(h, opts.hideDefault === true));
    return;
  }
  const def = h.defs.get(property);
  if (!def) throw new QubesNoSuchPropertyError(property);
  await fetchRuntime(app, h, property);
  if (wantsJson(opts)) {
    // the object also when the value is the default: --hide-default hides rows of a list
    writeJson(ctx, propertyJson(h, property));
    return;
  }
  if (opts.hideDefault && h.isDefault(property)) return;
  const shown = displayValue(def, safeGet(h, property));
  if (shown !== undefined && !(shown === 'None' && (def.type === 'vm' || def.type === 'label'))) ctx.out(`${shown}\n`);
}

/** R3.2 warned when maxmem < memory; the R4 core does not check (spec §2.5 [rec]). */
function memoryWarning(h: Holder, property: string): string | undefined {
  if (property !== 'maxmem' && property !== 'memory') return undefined;
  if (!h.defs.has('maxmem') || !h.defs.has('memory')) return undefined;
  const maxmem = safeGet(h, 'maxmem');
  const memory = safeGet(h, 'memory');
  if (typeof maxmem === 'number' && typeof memory === 'number' && maxmem > 0 && maxmem < memory)
    return `maxmem (${maxmem}) is lower than memory (${memory}); memory balancing will be limited`;
  return undefined;
}
