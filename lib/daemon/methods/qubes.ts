// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating and removing qubes: one Create and one CreateInPool per class a
 * client may ask for, CreateDisposable, and Remove, over lib/ops as qvm-create and
 * qvm-remove (the daemon does not orchestrate storage itself).
 *
 * Create's payload is `name=NAME label=LABEL` (CreateInPool also
 * `pool=POOL` or `pool:VOLUME=POOL`), the argument the template. The
 * checks run in the reference's order: the syntax of the request first,
 * then what exists (the qube, the template, the label, the pool), so that
 * a refused caller learns nothing of what exists.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_create,
 * vm_create_in_pool, _vm_create, create_disposable, vm_remove),
 * qubes/vm/dispvm.py (from_appvm, gen_disposable). There is
 * no Clone method: Qubes' client clones with Create, the property, feature
 * and tag methods and volume CloneFrom/CloneTo.
 */
import { PermissionDenied, ProtocolError, QubesError, QubesLabelNotFoundError, QubesVMAlreadyExistsError, QubesVMInUseError } from '../../errors.js';
import { createQube } from '../../ops/create-qube.js';
import { removeQube } from '../../ops/remove-qube.js';
import { validateVmName } from '../../vm/names.js';
import { CREATABLE_CLASSES, propertiesFor, VM_CLASSES, type VmClass } from '../../vm/vm-properties.js';
import { method, methods, type Call, type MethodDecl } from '../method.js';
import { vmGone } from '../vm-ref.js';
import { validateLabelName } from './labels.js';
import { MalformedRequest } from '../malformed.js';
import { storageContext } from '../../storage/pools.js';

const POOL_VOLUMES = ['root', 'private', 'volatile', 'kernel'];

interface CreateParams {
  name?: string;
  label?: string;
  pool?: string;
  pools: Map<string, string>;
  /** What exists is checked after the syntax (reference order): remembered here. */
  unknownLabel: boolean;
  unknownPool?: string;
}

/** The payload's `KEY=VALUE` words, checked for syntax only. */
function parseCreatePayload(call: Call, allowPool: boolean): CreateParams {
  const text = call.payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError('Parameters contains non-ASCII characters');
  const p: CreateParams = { pools: new Map(), unknownLabel: false };
  const seen = new Set<string>();
  for (const word of text.split(' ')) {
    const eq = word.indexOf('=');
    // the reference's tuple unpacking fails here (a ValueError, not one of its errors): the connection is dropped
    if (eq < 0) throw new MalformedRequest(`creation parameter without '=': ${JSON.stringify(word)}`);
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (seen.has(key)) throw new ProtocolError('Options must be unique');
    if (key === 'name') {
      p.name = validateVmName(value);
      seen.add(key);
    } else if (key === 'label') {
      validateLabelName(value, true);
      p.label = value;
      p.unknownLabel = !call.app.labels.has(value);
      seen.add(key);
    } else if (key === 'pool' && allowPool) {
      if (p.pool !== undefined) throw new ProtocolError("Option 'pool' must be unique");
      p.pool = value;
      if (!call.app.pools.has(value)) p.unknownPool = value;
    } else if (key.startsWith('pool:') && allowPool) {
      const volume = key.slice(5);
      if (!POOL_VOLUMES.includes(volume)) throw new ProtocolError(`Volume must be one of: ${POOL_VOLUMES.join(', ')}`);
      if (p.pools.has(volume)) throw new ProtocolError(`Option 'pool:${volume}' must be unique`);
      p.pools.set(volume, value);
      if (!call.app.pools.has(value)) p.unknownPool = value;
    } else if (!allowPool && (key === 'pool' || key.startsWith('pool:'))) {
      throw new ProtocolError("Pool option specified but 'allow_pool' is False");
    } else {
      throw new ProtocolError('Options does not match: name, label, pool, pool:');
    }
  }
  return p;
}

async function create(call: Call, allowPool: boolean): Promise<void> {
  const klass = call.endpoint as VmClass;
  if (call.arg && !propertiesFor(klass).has('template')) throw new ProtocolError(`${klass} cannot be based on template`);
  const unknownTemplate = call.arg !== '' && !call.app.domains.get(call.arg);
  const p = parseCreatePayload(call, allowPool);
  for (const key of ['name', 'label'] as const)
    if (p[key] === undefined) throw new ProtocolError(`Creation requested without key: ${key}`);
  if (p.pool !== undefined && p.pools.size > 0) throw new ProtocolError("Conflicting options specified: 'pool=', 'pool:volume='");
  const name = p.name as string;
  if (call.app.domains.get(name)) throw new QubesVMAlreadyExistsError(`Qube already exists: ${name}`);
  if (unknownTemplate) throw vmGone(call.arg);
  // the label came from the payload: not repeated back, as the reference
  if (p.unknownLabel) throw new QubesLabelNotFoundError('untrusted label');
  if (p.unknownPool !== undefined) throw new QubesError(`Unknown storage pool ${p.unknownPool}`);
  // dom0 is one; a RemoteVM needs a relay this suite does not have
  if (!CREATABLE_CLASSES.includes(klass)) throw new QubesError(`Cannot create a qube of class ${klass} here`);
  const result = await createQube(call.services.store, storageContext(call.services.env), {
    klass,
    name,
    label: p.label as string,
    template: call.arg || undefined,
    pools: { all: p.pool, perVolume: p.pools },
    props: [],
  });
  for (const w of result.warnings) call.services.warn(`admin.vm.Create of ${name}: ${w}`);
}

async function remove(call: Call): Promise<void> {
  const vm = call.dest;
  if (vm.klass === 'AdminVM') throw new QubesVMInUseError(`'${vm.name}' cannot be removed`);
  if (vm.has('installed_by_rpm') && vm.get('installed_by_rpm') === true)
    throw new QubesVMInUseError(`VM installed by package manager: ${vm.name}`);
  // as the reference, problems removing the files are logged, not returned
  for (const w of await removeQube(call.services.store, vm.name, storageContext(call.services.env))) call.services.warn(`admin.vm.Remove of ${vm.name}: ${w}`);
}

/**
 * A new disposable of the destination (of the caller's default_dispvm when
 * the destination is dom0), not started; its name, or `uuid:UUID` when the
 * payload is `uuid`. Preloaded disposables are not made here.
 */
async function createDisposable(call: Call): Promise<string> {
  if (!['', 'preload'].includes(call.arg)) throw new PermissionDenied(`Argument not in "'', 'preload'"`);
  const payload = call.payload.toString('latin1');
  if (payload !== '' && payload !== 'uuid') throw new ProtocolError("Invalid payload, expected empty string or 'uuid'");
  const callerDefault = () => (call.src.has('default_dispvm') ? call.src.get('default_dispvm') : call.app.get('default_dispvm'));
  const appvmName = call.dest.klass === 'AdminVM' ? callerDefault() : call.dest.name;
  const appvm = typeof appvmName === 'string' ? call.app.domains.get(appvmName) : undefined;
  if (!appvm || !appvm.has('template_for_dispvms') || appvm.get('template_for_dispvms') !== true)
    throw new QubesError('Refusing to create disposable out of app qube which has template_for_dispvms=False');
  if (call.arg === 'preload') throw new QubesError('Preloading disposables is not supported here');
  const label = appvm.get('label');
  const { name } = await createQube(call.services.store, storageContext(call.services.env), {
    klass: 'DispVM',
    label: typeof label === 'string' ? label : 'red',
    template: appvm.name,
    pools: { perVolume: new Map() },
    props: [['auto_cleanup', 'True']],
    tags: [`disp-created-by-${call.src.name}`],
  });
  if (payload !== 'uuid') return name;
  return `uuid:${call.services.store.read().domains.get(name)?.uuid ?? ''}`;
}

const createDecl = { scope: 'global', destAdminvm: true, wantsArg: null, wantsPayload: null, write: true } as const;

export const QUBE_METHODS: MethodDecl[] = [
  ...methods('admin.vm.Create.{endpoint}', VM_CLASSES, createDecl, (call) => create(call, false)),
  ...methods('admin.vm.CreateInPool.{endpoint}', VM_CLASSES, createDecl, (call) => create(call, true)),
  method('admin.vm.CreateDisposable', { ...createDecl, destAdminvm: null }, createDisposable),
  method('admin.vm.Remove', { scope: 'global', destAdminvm: null, wantsArg: false, wantsPayload: false, write: true }, remove),
];
