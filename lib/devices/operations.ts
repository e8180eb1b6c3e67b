// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Attach, detach, assign and unassign, with the reference's checks in its
 * order and its messages. Assignments are stored in qubes.xml (the caller
 * runs assign/unassign inside `store.update`); attachments are live only
 * (through LiveDevices) and never stored.
 *
 * Reference: qubes-core-admin: qubes/devices.py DeviceCollection,
 * qubes/ext/pci.py, qubes/ext/block.py; qubesadmin/devices.py (client
 * checks); shared/spec/firewall-and-devices.md B4, B5.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DeviceAlreadyAssigned,
  DeviceAlreadyAttached,
  DeviceNotAssigned,
  ProtocolError,
  QubesError,
  QubesValueError,
  QubesVMNotHaltedError,
  QubesVMNotRunningError,
} from '../errors.js';
import type { Qubes } from '../app/app.js';
import type { AssignmentMode, DeviceAssignment } from '../vm/devices.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { DeviceEnumerator } from './enumerate.js';
import type { DeviceEvents } from './events.js';
import { ANY, matches, portText, samePort, virtualText, type DeviceInfo, type Port, type VirtualDevice } from './model.js';
import { blockReadOnly, checkOptions, type Options } from './options.js';
import { pathToSbdf } from '../host/pci-path.js';
import type { LiveDevices } from './runtime.js';

export interface DeviceServices {
  enumerator: DeviceEnumerator;
  live: LiveDevices;
  events: DeviceEvents;
}

/** A qube's stored assignments of one class (empty when the class was never touched). */
export function assignmentsOf(vm: QubesVM, devclass: string): DeviceAssignment[] {
  return vm.devices.find((d) => d.devclass === devclass)?.assignments ?? [];
}

export const assignmentDevice = (a: DeviceAssignment, devclass: string): VirtualDevice => ({
  port: { backend: a.backend, portId: a.port, devclass },
  deviceId: a.identity,
});

const sameVirtual = (a: VirtualDevice, b: VirtualDevice) => samePort(a.port, b.port) && a.deviceId === b.deviceId;

export interface AttachedDevice {
  device: DeviceInfo;
  options: Options;
}

/** Devices attached to a qube now, resolved against their backends. */
export async function attachedTo(svc: DeviceServices, app: Qubes, vm: QubesVM, devclass: string): Promise<AttachedDevice[]> {
  const out: AttachedDevice[] = [];
  for (const { device, options } of await svc.live.attached(vm, devclass)) {
    const backend = app.domains.get(device.backend);
    const info = backend ? await svc.enumerator.get(backend, devclass, device.portId) : { ...device, deviceId: ANY, interfaces: [], data: [] };
    out.push({ device: info, options });
  }
  return out;
}

/** Who holds a device now (block: one frontend at most), `except` left out. */
export async function attachedElsewhere(svc: DeviceServices, app: Qubes, dev: Port, except?: QubesVM): Promise<QubesVM | undefined> {
  for (const vm of app.domains.sorted().filter((v) => v !== except && svc.enumerator.isRunning(v)))
    if ((await attachedTo(svc, app, vm, dev.devclass)).some((a) => samePort(a.device, dev))) return vm;
  return undefined;
}

/** PCI extension checks before an attach or assign (pre-attach / pre-assign). */
function checkPci(svc: DeviceServices, vm: QubesVM, port: Port): void {
  if (port.portId !== ANY) {
    const sbdf = port.backend === 'dom0' ? pathToSbdf(svc.enumerator.sysRoot, port.portId) : null;
    if (!sbdf || !fs.existsSync(path.join(svc.enumerator.sysRoot, 'bus', 'pci', 'devices', sbdf)))
      throw new QubesError(`Invalid PCI device: ${port.portId}`);
  }
  if (vm.klass === 'AdminVM') throw new QubesError("Can't attach PCI device to dom0");
  // Only an explicit pvh: the default turns hvm once a PCI device is assigned.
  if (vm.props.get('virt_mode') === 'pvh') throw new QubesError("Can't attach PCI device to VM in pvh mode");
}

export interface AssignRequest {
  device: VirtualDevice;
  mode: AssignmentMode | 'manual';
  options: Options;
}

/**
 * Store an assignment (running or halted qube). Assigning again with a
 * different mode changes the mode and keeps the stored options.
 * @returns 'assigned' or 'changed'
 */
export function assign(svc: DeviceServices, vm: QubesVM, req: AssignRequest): 'assigned' | 'changed' {
  const { device, mode } = req;
  const devclass = device.port.devclass;
  if (mode === 'required' && devclass !== 'pci' && devclass !== 'block')
    throw new QubesValueError('Only pci and block devices can be assigned as required.');
  if (devclass === 'pci' && mode !== 'required') throw new QubesValueError('PCI devices cannot be assigned as not required.');
  if (mode !== 'manual' && !['usb', 'block', 'mic', 'pci'].includes(devclass))
    throw new QubesValueError(`${devclass} devices cannot be assigned to be automatically attached.`);
  if (device.port.portId === ANY && device.deviceId === ANY) throw new ProtocolError('Cannot assign any device from any port (*:*)');
  if (mode === 'manual') throw new QubesValueError('Only auto-attachable devices can be assigned.');
  const list = assignmentsOf(vm, devclass);
  const existing = list.find((a) => sameVirtual(assignmentDevice(a, devclass), device));
  if (existing && existing.mode === mode)
    throw new DeviceAlreadyAssigned(`${devclass} device ${virtualText(device)} already assigned to ${vm.name}`);
  checkOptions(devclass, req.options);
  if (devclass === 'pci') checkPci(svc, vm, device.port);
  const ev = { vm: vm.name, device: virtualText(device), mode };
  if (existing) {
    svc.events.fire('device-pre-assign', devclass, { ...ev, options: existing.options });
    existing.mode = mode;
    svc.events.fire('device-assignment-changed', devclass, { ...ev, options: existing.options });
    return 'changed';
  }
  svc.events.fire('device-pre-assign', devclass, { ...ev, options: req.options });
  let entry = vm.devices.find((d) => d.devclass === devclass);
  if (!entry) vm.devices.push((entry = { devclass, assignments: [] }));
  entry.assignments.push({ backend: device.port.backend, port: device.port.portId, mode, identity: device.deviceId, options: req.options });
  svc.events.fire('device-assign', devclass, { ...ev, options: req.options });
  return 'assigned';
}

/** Remove a stored assignment (an attached device stays attached). */
export function unassign(svc: DeviceServices, vm: QubesVM, device: VirtualDevice): DeviceAssignment {
  const devclass = device.port.devclass;
  const entry = vm.devices.find((d) => d.devclass === devclass);
  const i = entry?.assignments.findIndex((a) => sameVirtual(assignmentDevice(a, devclass), device)) ?? -1;
  if (!entry || i < 0) throw new DeviceNotAssigned(`${devclass} device ${virtualText(device)} not assigned to ${vm.name}`);
  const [removed] = entry.assignments.splice(i, 1) as [DeviceAssignment];
  svc.events.fire('device-unassign', devclass, { vm: vm.name, device: virtualText(device), mode: removed.mode });
  return removed;
}

/** Attach now (never stored): the qube must run. */
export async function attach(svc: DeviceServices, app: Qubes, vm: QubesVM, dev: DeviceInfo, requested: Options): Promise<void> {
  const devclass = dev.devclass;
  if (devclass === 'pci') throw new QubesValueError('PCI devices cannot be attached manually, did you mean `qvm-pci assign --required ...`');
  if (!svc.enumerator.isRunning(vm)) throw new QubesVMNotRunningError('VM not running, cannot attach device, do you mean `assign`?');
  if (dev.unknown) throw new ProtocolError(`${devclass} device not recognized in ${dev.portId} port.`);
  if ((await attachedTo(svc, app, vm, devclass)).some((a) => samePort(a.device, dev)))
    throw new DeviceAlreadyAttached(`device ${portText(dev)} of class ${devclass} already attached to ${vm.name}`);
  let options = checkOptions(devclass, requested);
  if (devclass === 'block') {
    const mode = dev.data.find(([k]) => k === 'mode')?.[1] ?? 'w';
    options = blockReadOnly(options, mode);
    const holder = await attachedElsewhere(svc, app, dev, vm);
    if (holder) throw new DeviceAlreadyAttached(`Device ${portText(dev)} already attached to ${holder.name}`);
    const backend = app.domains.get(dev.backend);
    if (!backend || !svc.enumerator.isRunning(backend))
      throw new QubesVMNotRunningError(`Domain ${dev.backend} needs to be running to attach device from it`);
  }
  const ev = { vm: vm.name, device: portText(dev), deviceId: dev.deviceId, options };
  svc.events.fire('device-pre-attach', devclass, ev);
  await svc.live.attach(vm, dev, options);
  svc.events.fire('device-attach', devclass, ev);
}

/** Detach now. A required device stays while the qube runs (unassign it first). */
export async function detach(svc: DeviceServices, app: Qubes, vm: QubesVM, port: Port): Promise<void> {
  const devclass = port.devclass;
  const held = (await attachedTo(svc, app, vm, devclass)).find((a) => samePort(a.device, port));
  if (!held) throw new DeviceNotAssigned(`${devclass} device ${port.portId} not attached to ${vm.name}`);
  const required = assignmentsOf(vm, devclass).some(
    (a) => a.mode === 'required' && matches(assignmentDevice(a, devclass), held.device),
  );
  if (required && !svc.enumerator.isHalted(vm))
    throw new QubesVMNotHaltedError('Can not detach a required device from a non halted qube. You need to unassign device first.');
  const ev = { vm: vm.name, device: portText(port) };
  svc.events.fire('device-pre-detach', devclass, ev);
  await svc.live.detach(vm, port);
  svc.events.fire('device-detach', devclass, ev);
}
