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

const usedBy = (vm: string, mode: string, options: Options): string =>
  options.length ? `${vm} (${mode}: ${options.map(([k, v]) => `${k}=${v}`).join(', ')})` : `${vm} (${mode})`;

const virtualDescription = (v: VirtualDevice): string => (v.deviceId === ANY ? 'any device' : v.deviceId);

/** Rows of cells, sorted as the reference sorts its tuples. */
export async function listRows(svc: DeviceServices, app: Qubes, req: ListRequest): Promise<string[][]> {
  const { devclass } = req;
  const withSbdf = Boolean(req.withSbdf) && devclass === 'pci';
  const all = app.domains.sorted();
  const rows: string[][] = [];
  const row = (ident: string, sbdf: string, desc: string, users: string[]) =>
    rows.push(withSbdf ? [ident, sbdf, desc, users.join(', ')] : [ident, desc, users.join(', ')]);

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
    const users: string[] = [];
    for (const vm of all) {
      if (vm.name === dev.backend) continue;
      for (const a of attached.get(vm) ?? []) if (samePort(a.device, dev)) users.push(usedBy(vm.name, 'attached', a.options));
    }
    const sbdf = dev.data.find(([k]) => k === 'sbdf')?.[1] ?? 'None';
    row(`${dev.backend}:${dev.portId}`, sbdf, describe(dev, svc.enumerator.hw), users);
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
      const users: string[] = [];
      for (const vm of all) {
        if (vm.name === v.port.backend) continue;
        for (const a of assignmentsOf(vm, devclass))
          if (matches(assignmentDevice(a, devclass), { ...v.port, deviceId: v.deviceId })) users.push(usedBy(`*${vm.name}`, a.mode, a.options));
      }
      row(`${v.port.backend}:${v.port.portId}`, 'None', virtualDescription(v), users);
    }
  }
  return rows.sort(compareRows);
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
