// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The rows of `qvm-device CLASS list`: every device exposed by (or
 * attached to) the chosen qubes with who uses it, and with `-s` one row per
 * assignment (`*vm (mode: options)`).
 *
 * Reference: qubesadmin/tools/qvm_device.py list_devices, _load_lines;
 * shared/spec/firewall-and-devices.md B9.
 */
import type { Qubes } from '../app/app.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { describe } from './description.js';
import { ANY, matches, samePort, type DeviceInfo, type VirtualDevice } from './model.js';
import { assignmentDevice, assignmentsOf, attachedTo, type AttachedDevice, type DeviceServices } from './operations.js';
import type { Options } from './options.js';

export interface ListRequest {
  devclass: string;
  /** Qubes named on the command line; none means every qube. */
  vms?: QubesVM[];
  assignments?: boolean;
  withSbdf?: boolean;
}

/** A qube that uses a listed device: attached now, or (with `-s`) assigned. */
export interface DeviceUser {
  qube: string;
  /** `attached`, or the assignment's mode (required, auto-attach, ask-to-attach). */
  mode: string;
  assigned: boolean;
  options: Options;
}

/** One row of the listing, typed (`--format json`); `listRows` spells it as the table's cells. */
export interface DeviceEntry {
  backend: string;
  port: string;
  /** The identity of the device (of an assignment: the one it expects), null for an assignment of any device. */
  deviceId: string | null;
  /** PCI devices only, and not for assignments. */
  sbdf: string | null;
  description: string;
  /** An assignment row of `-s` rather than a device the backend exposes. */
  assignment: boolean;
  users: DeviceUser[];
}

const userText = (u: DeviceUser): string => {
  const name = u.assigned ? `*${u.qube}` : u.qube;
  return u.options.length ? `${name} (${u.mode}: ${u.options.map(([k, v]) => `${k}=${v}`).join(', ')})` : `${name} (${u.mode})`;
};

const virtualDescription = (v: VirtualDevice): string => (v.deviceId === ANY ? 'any device' : v.deviceId);

/** The table cells of an entry. */
function cells(e: DeviceEntry, withSbdf: boolean): string[] {
  const users = e.users.map(userText).join(', ');
  return withSbdf ? [`${e.backend}:${e.port}`, e.sbdf ?? 'None', e.description, users] : [`${e.backend}:${e.port}`, e.description, users];
}

/** The entries in the order of the table (sorted as the reference sorts its row tuples). */
export async function listEntries(svc: DeviceServices, app: Qubes, req: ListRequest): Promise<DeviceEntry[]> {
  const { devclass } = req;
  const withSbdf = Boolean(req.withSbdf) && devclass === 'pci';
  const all = app.domains.sorted();
  const entries: DeviceEntry[] = [];

  // every running qube's attachments, read once
  const attached = new Map<QubesVM, AttachedDevice[]>();
  for (const vm of all) attached.set(vm, await attachedTo(svc, app, vm, devclass));
  const devices: DeviceInfo[] = [];
  const seen = (d: DeviceInfo) => devices.some((x) => samePort(x, d) && x.deviceId === d.deviceId);
  for (const vm of req.vms ?? all) {
    for (const a of attached.get(vm) ?? []) if (!seen(a.device)) devices.push(a.device);
    for (const d of await svc.enumerator.exposed(vm, devclass)) if (!seen(d)) devices.push(d);
  }
  for (const dev of devices) {
    const users: DeviceUser[] = [];
    for (const vm of all) {
      if (vm.name === dev.backend) continue;
      for (const a of attached.get(vm) ?? []) if (samePort(a.device, dev)) users.push({ qube: vm.name, mode: 'attached', assigned: false, options: a.options });
    }
    const sbdf = dev.data.find(([k]) => k === 'sbdf')?.[1] ?? null;
    entries.push({ backend: dev.backend, port: dev.portId, deviceId: dev.deviceId, sbdf, description: describe(dev, svc.enumerator.hw), assignment: false, users });
  }

  if (req.assignments) {
    const virtuals: VirtualDevice[] = [];
    for (const vm of all)
      for (const a of assignmentsOf(vm, devclass)) {
        const v = assignmentDevice(a, devclass);
        if (!virtuals.some((x) => x.port.backend === v.port.backend && x.port.portId === v.port.portId && x.deviceId === v.deviceId))
          virtuals.push(v);
      }
    for (const v of virtuals) {
      const users: DeviceUser[] = [];
      for (const vm of all) {
        if (vm.name === v.port.backend) continue;
        for (const a of assignmentsOf(vm, devclass))
          if (matches(assignmentDevice(a, devclass), { ...v.port, deviceId: v.deviceId })) users.push({ qube: vm.name, mode: a.mode, assigned: true, options: a.options });
      }
      entries.push({ backend: v.port.backend, port: v.port.portId, deviceId: v.deviceId === ANY ? null : v.deviceId, sbdf: null, description: virtualDescription(v), assignment: true, users });
    }
  }
  const keyed = entries.map((e) => ({ e, key: cells(e, withSbdf) }));
  return keyed.sort((a, b) => compareRows(a.key, b.key)).map((k) => k.e);
}

/** Rows of cells, sorted as the reference sorts its tuples. */
export async function listRows(svc: DeviceServices, app: Qubes, req: ListRequest): Promise<string[][]> {
  const withSbdf = Boolean(req.withSbdf) && req.devclass === 'pci';
  return (await listEntries(svc, app, req)).map((e) => cells(e, withSbdf));
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
