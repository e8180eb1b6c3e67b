// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.property.* (a qube's properties) and admin.property.* (the
 * system's): List, Get, GetAll, GetDefault, Help, Set, Reset, over the same
 * property system as qvm-prefs and qubes-prefs.
 *
 * Get's reply is `default=True|False type=TYPE VALUE` (TYPE one of vm, int,
 * bool, label, str; VALUE empty for "no qube"; an unset property reads
 * `default=True type=TYPE ` with nothing after the space). GetAll is one
 * `NAME ` + that per line, backslashes and newlines escaped. List and
 * GetAll give the properties in the reference's order (load stage, name).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (_property_*,
 * _serialize_property), qubes/__init__.py (property.sanitize).
 */
import type { Qubes } from '../../app/app.js';
import { QubesNoSuchPropertyError, QubesValueError, VmmError } from '../../errors.js';
import { getProperty, isDefault, propertyOrder, resetProperty, setProperty, type AnyPropertyDef, type PropertyDef, type PropertyHolder, type PropValue } from '../../vm/property.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { changeProperty } from '../../ops/autostart.js';
import { commandRunner } from '../../storage/command-runner.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { sameVm } from '../vm-ref.js';

/** The type word of the protocol (an explicit list, as the reference's). */
function typeWord(def: AnyPropertyDef): string {
  if (def.type === 'vm') return 'vm';
  if (def.type === 'int') return 'int';
  if (def.type === 'bool') return 'bool';
  if (def.name === 'label') return 'label';
  return 'str';
}

function text(v: PropValue): string {
  if (v === null) return '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** Properties the hypervisor decides, which need its answer before a read. */
const RUNTIME = new Set(['xid', 'start_time', 'maxmem', 'stubdom_xid']);

/** The value, or undefined when there is none (unset, or a default the hypervisor would have to give and cannot). */
function valueOf(holder: PropertyHolder, name: string): PropValue | undefined {
  try {
    return getProperty(holder, name);
  } catch (e) {
    if (e instanceof VmmError) return undefined;
    throw e;
  }
}

/** The qube's runtime facts for a read of RUNTIME properties; unreachable leaves them unknown. */
async function refreshRuntime(call: Call, holder: PropertyHolder, names: readonly string[]): Promise<void> {
  if (holder === call.app || !names.some((n) => RUNTIME.has(n))) return;
  const vm = holder as QubesVM;
  if (call.app.vmm.offline) return;
  try {
    await call.app.vmm.refresh([vm]);
  } catch (e) {
    if (!(e instanceof VmmError)) throw e;
  }
}

const holderName = (h: PropertyHolder, app: Qubes) => (h === app ? 'Qubes' : (h as QubesVM).name);

function defOf(h: PropertyHolder, app: Qubes, name: string): AnyPropertyDef {
  const def = h.defs.get(name);
  if (!def) throw new QubesNoSuchPropertyError(name, `Invalid property '${name}' of ${holderName(h, app)}`);
  return def;
}

export function serializeProperty(h: PropertyHolder, name: string): string {
  const def = h.defs.get(name) as AnyPropertyDef;
  const v = valueOf(h, name);
  if (v === undefined) return `default=True type=${typeWord(def)} `;
  return `default=${isDefault(h, name) ? 'True' : 'False'} type=${typeWord(def)} ${text(v)}`;
}

const sortedNames = (h: PropertyHolder) => [...h.defs.keys()].sort(propertyOrder(h.defs));

/** The untrusted value as text; the reference refuses bytes beyond ASCII. */
function payloadText(payload: Buffer): string {
  const s = payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(s)) throw new QubesValueError('Non-ASCII bytes in property value');
  return s;
}

/** The holder of a call on the system (dest dom0, global methods) or on a qube. */
type Pick = (call: Call, app: Qubes) => PropertyHolder;
const ofQube: Pick = (call, app) => sameVm(app, call.dest.name);
const ofSystem: Pick = (_call, app) => app;

function family(prefix: string, pick: Pick, scope: 'local' | 'global', destAdminvm: true | null): MethodDecl[] {
  const read = { scope, destAdminvm, wantsPayload: false } as const;
  return [
    method(`${prefix}.List`, { ...read, wantsArg: false }, (call) => sortedNames(pick(call, call.app)).map((n) => `${n}\n`).join('')),
    method(`${prefix}.Get`, { ...read, wantsArg: true }, async (call) => {
      const h = pick(call, call.app);
      defOf(h, call.app, call.arg);
      await refreshRuntime(call, h, [call.arg]);
      return serializeProperty(h, call.arg);
    }),
    method(`${prefix}.GetAll`, { ...read, wantsArg: false }, async (call) => {
      const h = pick(call, call.app);
      const names = sortedNames(h);
      await refreshRuntime(call, h, names);
      return names.map((n) => `${n} ${serializeProperty(h, n).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`).join('');
    }),
    method(`${prefix}.GetDefault`, { ...read, wantsArg: true }, (call) => {
      const h = pick(call, call.app);
      const def = defOf(h, call.app, call.arg);
      let v: PropValue | undefined;
      try {
        v = (def as PropertyDef<PropertyHolder>).default?.(h);
      } catch (e) {
        if (!(e instanceof VmmError)) throw e;
      }
      return v === undefined ? undefined : `type=${typeWord(def)} ${text(v)}`;
    }),
    method(`${prefix}.Help`, { ...read, wantsArg: true }, (call) => {
      const h = pick(call, call.app);
      return defOf(h, call.app, call.arg).doc.trim().split(/\s+/).join(' ');
    }),
    method(`${prefix}.Set`, { scope, destAdminvm, wantsArg: true, wantsPayload: null, write: true }, async (call) => {
      defOf(pick(call, call.app), call.app, call.arg);
      const value = payloadText(call.payload);
      await call.write(async (app) => {
        const h = pick(call, app);
        await changeProperty(commandRunner(call.services.env), h, call.arg, 'set', () => setProperty(h, call.arg, value));
      });
    }),
    method(`${prefix}.Reset`, { scope, destAdminvm, wantsArg: true, wantsPayload: false, write: true }, async (call) => {
      defOf(pick(call, call.app), call.app, call.arg);
      await call.write(async (app) => {
        const h = pick(call, app);
        await changeProperty(commandRunner(call.services.env), h, call.arg, 'reset', () => resetProperty(h, call.arg));
      });
    }),
  ];
}

export const PROPERTY_METHODS: MethodDecl[] = [
  ...family('admin.vm.property', ofQube, 'local', null),
  ...family('admin.property', ofSystem, 'global', true),
];
