// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices, one set of methods per device class, over lib/devices as
 * qvm-device: Available (what the destination exposes), Assigned (its
 * stored assignments), Attached (what is attached to it now), Assign,
 * Unassign, Set.assignment (change an assignment's mode), Attach, Detach;
 * and the qube's list of denied device interfaces (denied.List, Add,
 * Remove).
 *
 * Listings are `KEY SERIALIZATION` lines sorted by key (`PORT:DEVICE_ID`
 * for Available, `BACKEND+PORT:DEVICE_ID` for the others); the
 * serialization is device-wire.ts.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_device_*),
 * qubes/devices.py (update_assignment).
 */
import { deviceServices } from '../../devices/services.js';
import { hostRoots } from '../../config.js';
import { DEVICE_CLASSES, ANY, virtualText, type DeviceInfo, type VirtualDevice } from '../../devices/model.js';
import { assign, assignmentDevice, assignmentsOf, attach, attachedTo, detach, unassign, type DeviceServices } from '../../devices/operations.js';
import { DeviceNotFound, ProtocolError, QubesError, QubesUnrecognizedDeviceAssignmentMode, QubesValueError } from '../../errors.js';
import { ASSIGNMENT_MODES, type AssignmentMode } from '../../vm/devices.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { parseQarg, serializeAssignment, serializeInfo, unpackProperties } from '../device-wire.js';
import { method, methods, type Call, type MethodDecl } from '../method.js';
import { sameVm, vmGone } from '../vm-ref.js';

/** The device services of one request, with the runtime state of every qube (backends and frontends). */
async function servicesFor(call: Call): Promise<DeviceServices> {
  const app = call.app;
  if (!app.vmm.offline) await app.vmm.refresh(app.domains.all());
  return deviceServices(app, hostRoots(call.services.env), call.services.env, { warn: call.services.warn });
}

const devclassOf = (call: Call) => call.endpoint as string;

/** `KEY VALUE` lines sorted by key; more than one match for an argument is the reference's DeviceNotFound. */
function listing(entries: [string, string][], filtered: boolean): string {
  if (filtered && entries.length > 1) throw new DeviceNotFound('');
  return entries
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k} ${v}\n`)
    .join('');
}

/** The argument of Assigned and Attached: `BACKEND+PORT`. */
function selector(call: Call): ((backend: string, port: string) => boolean) | undefined {
  if (!call.arg) return undefined;
  const plus = call.arg.indexOf('+');
  if (plus < 0) return () => false;
  const [backend, port] = [call.arg.slice(0, plus), call.arg.slice(plus + 1)];
  return (b, p) => b === backend && p === port;
}

async function available(call: Call): Promise<string> {
  const devclass = devclassOf(call);
  let devices: DeviceInfo[] = [];
  if (call.dest.klass !== 'RemoteVM') devices = await (await servicesFor(call)).enumerator.exposed(call.dest, devclass);
  if (call.arg) devices = devices.filter((d) => d.portId === call.arg);
  return listing(
    devices.map((d) => [`${d.portId}:${d.deviceId}`, serializeInfo(d)]),
    Boolean(call.arg),
  );
}

function assigned(call: Call): string {
  const devclass = devclassOf(call);
  const pick = selector(call);
  const list = call.dest.klass === 'RemoteVM' ? [] : assignmentsOf(call.dest, devclass).filter((a) => !pick || pick(a.backend, a.port));
  return listing(
    list.map((a) => [`${a.backend}+${a.port}:${a.identity}`, serializeAssignment(assignmentDevice(a, devclass), a.mode, call.dest.name, a.options)]),
    Boolean(pick),
  );
}

async function attached(call: Call): Promise<string> {
  const devclass = devclassOf(call);
  const pick = selector(call);
  const list =
    call.dest.klass === 'RemoteVM' ? [] : (await attachedTo(await servicesFor(call), call.app, call.dest, devclass)).filter((a) => !pick || pick(a.device.backend, a.device.portId));
  return listing(
    list.map(({ device: d, options }) => [
      `${d.backend}+${d.portId}:${d.deviceId}`,
      serializeAssignment({ port: d, deviceId: d.deviceId }, 'manual', call.dest.name, options),
    ]),
    Boolean(pick),
  );
}

/**
 * The device the argument names: with a concrete port and id, the device
 * exposed there when it is that one (its full description), else the
 * argument as given (reference load_device_info).
 */
async function deviceOf(call: Call, svc: DeviceServices): Promise<VirtualDevice> {
  const v = parseQarg(call.arg, devclassOf(call));
  if (v.port.backend !== ANY && !call.app.domains.get(v.port.backend)) throw vmGone(v.port.backend);
  if (v.port.portId === ANY || v.deviceId === ANY) return v;
  const exposed = await svc.enumerator.get(call.app.domains.get(v.port.backend) as QubesVM, v.port.devclass, v.port.portId);
  return !exposed.unknown && exposed.deviceId === v.deviceId ? { port: v.port, deviceId: exposed.deviceId } : v;
}

/** The payload of Assign and Attach, checked against the device of the argument (reference DeviceAssignment.deserialize). */
function assignmentOf(call: Call, device: VirtualDevice): { mode: string; options: [string, string][] } {
  const { props, options } = unpackProperties(call.payload);
  const expect = (key: string, want: string, what: string) => {
    const got = props.get(key);
    if (got !== undefined && got !== want) throw new ProtocolError(`Got ${what} ${got} when expected ${want}.`);
    props.delete(key);
  };
  expect('backend_domain', device.port.backend, 'device exposed by');
  expect('port_id', device.port.portId, 'device from port:');
  expect('devclass', device.port.devclass, 'device of class');
  if (device.deviceId !== ANY) expect('device_id', device.deviceId, 'device identity');
  props.delete('device_id');
  props.delete('frontend_domain');
  const mode = props.get('mode') ?? 'manual';
  props.delete('mode');
  if (![...ASSIGNMENT_MODES, 'manual'].includes(mode as AssignmentMode)) throw new ProtocolError(`'${mode}' is not a valid AssignmentMode`);
  const extra = [...props.keys()][0];
  if (extra !== undefined) throw new ProtocolError(`DeviceAssignment.__init__() got an unexpected keyword argument '${extra}'`);
  return { mode, options };
}

async function assignHandler(call: Call): Promise<void> {
  const svc = await servicesFor(call);
  const device = await deviceOf(call, svc);
  const { mode, options } = assignmentOf(call, device);
  // the services of the request's snapshot: no hypervisor work under the store's lock
  await call.write((app) => {
    assign(svc, sameVm(app, call.dest.name), { device, mode: mode as AssignmentMode | 'manual', options });
  });
}

async function unassignHandler(call: Call): Promise<void> {
  const svc = await servicesFor(call);
  const device = await deviceOf(call, svc);
  await call.write((app) => {
    unassign(svc, sameVm(app, call.dest.name), device);
  });
}

const MODES = ['required', 'ask-to-attach', 'auto-attach'];

/** Change the mode of an assignment, keeping its options (reference update_assignment). */
async function setAssignment(call: Call): Promise<void> {
  const mode = call.payload.toString('latin1');
  if (!MODES.includes(mode)) throw new QubesUnrecognizedDeviceAssignmentMode('Invalid assignment mode');
  const device = parseQarg(call.arg, devclassOf(call));
  if (device.port.backend !== ANY && !call.app.domains.get(device.port.backend)) throw vmGone(device.port.backend);
  const svc = await servicesFor(call);
  await call.write((app) => {
    const vm = sameVm(app, call.dest.name);
    const existing = assignmentsOf(vm, device.port.devclass).find((a) => virtualText(assignmentDevice(a, device.port.devclass)) === virtualText(device));
    if (!existing) throw new QubesValueError(`Device ${virtualText(device)} not assigned to ${vm.name}`);
    if (existing.mode === mode) return;
    assign(svc, vm, { device, mode: mode as AssignmentMode, options: existing.options });
  });
}

async function attachHandler(call: Call): Promise<void> {
  const svc = await servicesFor(call);
  const device = await deviceOf(call, svc);
  const { options } = assignmentOf(call, device);
  const backend = call.app.domains.get(device.port.backend);
  if (!backend) throw new QubesError(`Cannot attach a device of any qube (${virtualText(device)})`);
  await attach(svc, call.app, call.dest, await svc.enumerator.get(backend, device.port.devclass, device.port.portId), options);
}

async function detachHandler(call: Call): Promise<void> {
  const svc = await servicesFor(call);
  const device = await deviceOf(call, svc);
  await detach(svc, call.app, call.dest, device.port);
}

// ---- denied interfaces ------------------------------------------------------------

/** The reference's DeviceInterface.from_str_bulk: 7-character codes back to back. */
function interfaces(text: string): string[] {
  if (text.length % 7 !== 0) throw new QubesValueError(`Invalid length of interfaces='${text}' (is ${text.length}, expected multiple of 7)`);
  return text.match(/.{7}/g) ?? [];
}

const deniedOf = (vm: QubesVM): string => (vm.has('devices_denied') ? String(vm.get('devices_denied') ?? '') : '');

function deniedPayload(call: Call, allowAll: boolean): string[] | 'all' {
  const text = call.payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError('Device interface contains non-ASCII characters');
  if (allowAll && text === 'all') return 'all';
  const list = interfaces(text);
  if (new Set(list).size !== list.length) throw new ProtocolError('Duplicated device interfaces in payload.');
  return list;
}

async function changeDenied(call: Call, change: (denied: string[]) => string[]): Promise<void> {
  if (interfaces(deniedOf(call.dest)).join('') === change(interfaces(deniedOf(call.dest))).join('')) return; // nothing changes: not saved
  await call.write((app) => {
    const vm = sameVm(app, call.dest.name);
    vm.set('devices_denied', change(interfaces(deniedOf(vm))).join(''));
  });
}

const local = { scope: 'local', destAdminvm: null } as const;
const perClass = (action: string, o: Parameters<typeof methods>[2], handler: Parameters<typeof methods>[3]) =>
  methods(`admin.vm.device.{endpoint}.${action}`, DEVICE_CLASSES, o, handler);

export const DEVICE_METHODS: MethodDecl[] = [
  ...perClass('Available', { ...local, wantsArg: null, wantsPayload: false }, available),
  ...perClass('Assigned', { ...local, wantsArg: null, wantsPayload: false }, assigned),
  ...perClass('Attached', { ...local, wantsArg: null, wantsPayload: false }, attached),
  ...perClass('Assign', { ...local, wantsArg: true, wantsPayload: true, write: true }, assignHandler),
  ...perClass('Unassign', { ...local, wantsArg: true, wantsPayload: false, write: true }, unassignHandler),
  ...perClass('Attach', { ...local, wantsArg: true, wantsPayload: null, execute: true }, attachHandler),
  ...perClass('Detach', { ...local, wantsArg: true, wantsPayload: false, execute: true }, detachHandler),
  ...perClass('Set.assignment', { ...local, wantsArg: true, wantsPayload: true, write: true }, setAssignment),
  method('admin.vm.device.denied.List', { ...local, wantsArg: false, wantsPayload: false }, (call) => interfaces(deniedOf(call.dest)).join('\n')),
  method('admin.vm.device.denied.Add', { ...local, wantsArg: false, wantsPayload: null, write: true }, async (call) => {
    const add = deniedPayload(call, false) as string[];
    // duplicates of what is there already are dropped, as the property's setter does
    await changeDenied(call, (denied) => [...denied, ...add.filter((i) => !denied.includes(i))]);
  }),
  method('admin.vm.device.denied.Remove', { ...local, wantsArg: false, wantsPayload: null, write: true }, async (call) => {
    const remove = deniedPayload(call, true);
    await changeDenied(call, (denied) => (remove === 'all' ? [] : denied.filter((i) => !remove.includes(i))));
  }),
];
