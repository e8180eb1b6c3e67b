// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.feature.*: List, Get, the four Check* lookups (own value, else
 * the template's, the netvm's, dom0's, or the template's then dom0's), Set,
 * Remove, with the same rules as qvm-features (names, printable ASCII
 * values, features only the system keeps, the service conversions).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_feature_*),
 * qubes/features.py (check_with_*).
 */
import { ProtocolError, QubesFeatureNotFoundError } from '../../errors.js';
import { assertFeatureChangeAllowed } from '../../vm/admin-extension.js';
import { checkWithNetvm, checkWithTemplate, type FeatureSource } from '../../vm/features.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { setFeature } from '../../vm/services.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { sameVm } from '../vm-ref.js';

const own = (vm: FeatureSource, name: string) => vm.features.get(name);
const ofDom0 = (vm: QubesVM, name: string) => vm.app.adminVm?.features.get(name);

type Lookup = (vm: QubesVM, name: string) => string | undefined;

const LOOKUPS: [string, Lookup][] = [
  ['Get', own],
  ['CheckWithTemplate', (vm, n) => checkWithTemplate(vm, n)],
  ['CheckWithNetvm', (vm, n) => checkWithNetvm(vm, n)],
  ['CheckWithAdminVM', (vm, n) => own(vm, n) ?? ofDom0(vm, n)],
  ['CheckWithTemplateAndAdminVM', (vm, n) => checkWithTemplate(vm, n) ?? ofDom0(vm, n)],
];

const local = { scope: 'local', destAdminvm: null, wantsPayload: false } as const;

function lookup(find: Lookup) {
  return (call: Call) => {
    const v = find(call.dest, call.arg);
    if (v === undefined) throw new QubesFeatureNotFoundError(call.dest.name, call.arg);
    return v;
  };
}

async function setHandler(call: Call): Promise<void> {
  const value = call.payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(value)) throw new ProtocolError('Feature value contains non-ASCII characters');
  if (!/^[a-zA-Z0-9_.-]+$/.test(call.arg)) throw new ProtocolError('feature name contains illegal characters');
  if (!/^[\x20-\x7e]*$/.test(value)) throw new ProtocolError(`${call.arg} value contains illegal characters`);
  assertFeatureChangeAllowed(call.arg);
  await call.write((app) => setFeature(sameVm(app, call.dest.name), call.arg, value));
}

async function removeHandler(call: Call): Promise<void> {
  assertFeatureChangeAllowed(call.arg);
  await call.write((app) => {
    const vm = sameVm(app, call.dest.name);
    if (!vm.features.delete(call.arg)) throw new QubesFeatureNotFoundError(vm.name, call.arg);
  });
}

export const FEATURE_METHODS: MethodDecl[] = [
  method('admin.vm.feature.List', { ...local, wantsArg: false }, (call) => call.dest.features.entries().map(([k]) => `${k}\n`).join('')),
  ...LOOKUPS.map(([name, find]) => method(`admin.vm.feature.${name}`, { ...local, wantsArg: true }, lookup(find))),
  method('admin.vm.feature.Set', { ...local, wantsArg: true, wantsPayload: null, write: true }, setHandler),
  method('admin.vm.feature.Remove', { ...local, wantsArg: true, write: true }, removeHandler),
];
