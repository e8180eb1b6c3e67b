// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the device code needs from running qubes, behind two small
 * interfaces the VMM subsystem fills: a qube's QubesDB (the devices its
 * udev scripts publish) and its live attachments (libvirt attach, detach,
 * and the devices in its domain XML). dom0's QubesDB is made here from
 * sysfs (block-export.ts, usb-export.ts), as dom0's own udev scripts would
 * write it.
 *
 * Until the libvirt and QubesDB clients exist every qube but dom0 reads as
 * halted, so other backends expose nothing and live attach is refused
 * before it is tried; were a qube running, these say plainly why they
 * cannot go on.
 */
import { VmmError, VmmOfflineError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Vmm } from '../vmm/vmm.js';
import { exportBlockDevices } from './block-export.js';
import type { DeviceInfo, Port } from './model.js';
import type { HostRoots } from './sysfs.js';
import { exportUsbDevices } from './usb-export.js';

/** The part of a qube's QubesDB the device code reads. */
export interface QubesDbReader {
  /** Every key under `prefix` (ending in `/`) with its value. */
  multiread(prefix: string): Map<string, string>;
}

export interface Attachment {
  device: Port;
  options: [string, string][];
}

/** Live attachments of running qubes (libvirt). */
export interface LiveDevices {
  attached(vm: QubesVM, devclass: string): Attachment[];
  attach(vm: QubesVM, device: DeviceInfo, options: [string, string][]): Promise<void>;
  detach(vm: QubesVM, device: Port): Promise<void>;
}

/** dom0's QubesDB device entries, computed from this machine. */
export class Dom0QubesDb implements QubesDbReader {
  constructor(private readonly roots: HostRoots) {}
  multiread(prefix: string): Map<string, string> {
    const all = prefix.startsWith('/qubes-usb-devices') ? exportUsbDevices(this.roots) : exportBlockDevices(this.roots);
    return new Map([...all].filter(([k]) => k.startsWith(prefix)));
  }
}

const noClient = (vmm: Vmm, what: string): Error =>
  vmm.offline ? new VmmOfflineError() : new VmmError(`Cannot ${what}: this build has no libvirt/QubesDB client yet`);

/** Other qubes' QubesDB: needs the QubesDB client of the VMM subsystem. */
export class VmmQubesDb implements QubesDbReader {
  constructor(
    private readonly vmm: Vmm,
    private readonly vm: QubesVM,
  ) {}
  multiread(prefix: string): Map<string, string> {
    throw noClient(this.vmm, `read ${prefix} from the QubesDB of ${this.vm.name}`);
  }
}

/** Live attach through libvirt: needs the libvirt client of the VMM subsystem. */
export class VmmLiveDevices implements LiveDevices {
  constructor(private readonly vmm: Vmm) {}
  attached(vm: QubesVM, devclass: string): Attachment[] {
    if (vm.klass === 'AdminVM' || this.vmm.info(vm).state === 'Halted') return [];
    throw noClient(this.vmm, `list the ${devclass} devices attached to ${vm.name}`);
  }
  async attach(vm: QubesVM, device: DeviceInfo): Promise<void> {
    throw noClient(this.vmm, `attach ${device.backend}:${device.portId} to ${vm.name}`);
  }
  async detach(vm: QubesVM, device: Port): Promise<void> {
    throw noClient(this.vmm, `detach ${device.backend}:${device.portId} from ${vm.name}`);
  }
}

export interface QdbDevice {
  /** The key's second component (the port, as the backend writes it). */
  key: string;
  fields: Map<string, string>;
}

/**
 * QubesDB device entries (`PREFIX/KEY/FIELD`) grouped by key, sorted; keys
 * failing `safe` are skipped with the reference's warning.
 */
export function qdbDevices(backend: string, entries: Map<string, string>, prefix: string, safe: RegExp, warn: (m: string) => void): QdbDevice[] {
  const byKey = new Map<string, Map<string, string>>();
  for (const [path, value] of entries) {
    if (!path.startsWith(prefix)) continue;
    const [key, field] = path.slice(prefix.length).split('/') as [string, string | undefined];
    if (!key) continue;
    if (!byKey.has(key)) byKey.set(key, new Map());
    if (field) byKey.get(key)?.set(field, value);
  }
  const out: QdbDevice[] = [];
  for (const [key, fields] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (safe.test(key)) out.push({ key, fields });
    else warn(`${backend} vm's device path name contains unsafe characters. Skipping it.`);
  }
  return out;
}
