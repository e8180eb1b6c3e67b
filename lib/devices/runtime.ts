// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the device code needs from running qubes, behind two small
 * interfaces: a qube's QubesDB (the devices its udev scripts publish) and
 * its live attachments (libvirt attach, detach, and the devices in its
 * domain XML). dom0's QubesDB is made here from sysfs (block-export.ts,
 * usb-export.ts), as dom0's own udev scripts would write it; other qubes'
 * is read from their QubesDB daemons.
 *
 * Live attach covers block devices. PCI devices go to a running qube only
 * through an assignment and a restart (the reference's client refuses a
 * manual attach); USB devices are attached by the reference through qrexec
 * (qubes.USBAttach into the frontend, usbip from the backend), which this
 * build does not have, so that is refused naming the reason.
 */
import type { Qubes } from '../app/app.js';
import type { Env } from '../config.js';
import { DisconnectedError, LibvirtNoDomainError, QubesError, VmmError, VmmOfflineError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { DomainRef } from '../vmm/libvirt/procedures.js';
import { DeviceModifyFlags } from '../vmm/libvirt/constants.js';
import { QubesDbClient } from '../vmm/qubesdb/client.js';
import { flavourFor } from '../vmm/domain-xml/template-override.js';
import type { Vmm } from '../vmm/vmm.js';
import { exportBlockDevices } from './block-export.js';
import { attachedBlockDisks, attachedPciSbdfs, blockDiskXml, unusedFrontend } from './libvirt-devices.js';
import type { DeviceInfo, Port } from './model.js';
import type { Options } from './options.js';
import { sbdfToPath } from '../host/pci-path.js';
import type { HostRoots } from '../host/sysfs.js';
import { exportUsbDevices } from './usb-export.js';

/** The part of a qube's QubesDB the device code reads. */
export interface QubesDbReader {
  /** Every key under `prefix` (ending in `/`) with its value. */
  multiread(prefix: string): Promise<Map<string, string>>;
}

export interface Attachment {
  device: Port;
  options: [string, string][];
}

/** Live attachments of running qubes (libvirt). */
export interface LiveDevices {
  attached(vm: QubesVM, devclass: string): Promise<Attachment[]>;
  attach(vm: QubesVM, device: DeviceInfo, options: [string, string][]): Promise<void>;
  detach(vm: QubesVM, device: Port): Promise<void>;
}

/** dom0's QubesDB device entries, computed from this machine. */
export class Dom0QubesDb implements QubesDbReader {
  constructor(private readonly roots: HostRoots) {}
  async multiread(prefix: string): Promise<Map<string, string>> {
    const all = prefix.startsWith('/qubes-usb-devices') ? exportUsbDevices(this.roots) : exportBlockDevices(this.roots);
    return new Map([...all].filter(([k]) => k.startsWith(prefix)));
  }
}

/**
 * A backend qube's QubesDB, read from its daemon. A qube that is not
 * running, or whose daemon does not answer, exposes nothing.
 */
export class VmmQubesDb implements QubesDbReader {
  constructor(
    private readonly vmm: Vmm,
    private readonly vm: QubesVM,
    private readonly env: Env,
  ) {}
  async multiread(prefix: string): Promise<Map<string, string>> {
    if (this.vmm.offline || this.vmm.info(this.vm).state !== 'Running') return new Map();
    let qdb: QubesDbClient | undefined;
    try {
      qdb = await QubesDbClient.open(this.vm.name, { env: this.env });
      return await qdb.multiread(prefix);
    } catch (e) {
      if (e instanceof DisconnectedError) return new Map();
      throw e;
    } finally {
      qdb?.close();
    }
  }
}

const optionOf = (o: Options, name: string) => o.find(([k]) => k === name)?.[1];

/**
 * Live attachments through libvirt. Each qube's domain XML is read once per
 * command and read again after this command changes it.
 */
export class VmmLiveDevices implements LiveDevices {
  private readonly xml = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly app: Qubes,
    private readonly vmm: Vmm,
    private readonly roots: HostRoots,
  ) {}

  private async domain(vm: QubesVM): Promise<DomainRef | undefined> {
    try {
      return await this.vmm.libvirt().lookupByUuid(vm.uuid as string);
    } catch (e) {
      if (e instanceof LibvirtNoDomainError) return undefined;
      throw e;
    }
  }

  /** The live domain XML, undefined for dom0 and qubes that do not run. */
  private domainXml(vm: QubesVM): Promise<string | undefined> {
    if (vm.klass === 'AdminVM' || this.vmm.info(vm).state !== 'Running') return Promise.resolve(undefined);
    let x = this.xml.get(vm.name);
    if (!x) {
      x = this.domain(vm).then((d) => (d ? this.vmm.libvirt().getXmlDesc(d) : undefined));
      this.xml.set(vm.name, x);
    }
    return x;
  }

  async attached(vm: QubesVM, devclass: string): Promise<Attachment[]> {
    const xml = await this.domainXml(vm);
    if (xml === undefined) return [];
    switch (devclass) {
      case 'block':
        return attachedBlockDisks(xml, Boolean(vm.has('kernel') && vm.get('kernel'))).map((d) => ({
          device: { backend: d.backend, portId: d.portId, devclass },
          options: d.options,
        }));
      case 'pci':
        return attachedPciSbdfs(xml).map((sbdf) => ({
          device: { backend: 'dom0', portId: sbdfToPath(this.roots.sys, sbdf) ?? sbdf.replace(/^0000:/, '').replace(':', '_'), devclass },
          options: [],
        }));
      default:
        // USB devices arrive over usbip, not through libvirt (see the head comment)
        return [];
    }
  }

  private async liveDomain(vm: QubesVM): Promise<DomainRef> {
    const d = await this.domain(vm);
    if (!d) throw new VmmError(`Domain ${vm.name} is not known to libvirt at ${this.vmm.uri}`);
    return d;
  }

  /** Options complete for the disk XML: frontend-dev filled in as the reference does. */
  private async withFrontend(vm: QubesVM, options: Options): Promise<Options> {
    if (optionOf(options, 'frontend-dev')) return options;
    const frontend = unusedFrontend((await this.domainXml(vm)) ?? '<domain/>', optionOf(options, 'devtype') ?? 'disk');
    if (!frontend) throw new QubesError(`No free block frontend left in ${vm.name}`);
    return [...options, ['frontend-dev', frontend]];
  }

  async attach(vm: QubesVM, device: DeviceInfo, options: Options): Promise<void> {
    if (this.vmm.offline) throw new VmmOfflineError();
    if (vm.klass === 'AdminVM') throw new QubesError(`Can't attach ${device.devclass} device to dom0: it has no libvirt domain`);
    if (device.devclass === 'pci')
      throw new QubesError(`Can't attach PCI device to running qube ${vm.name}: assign it (qvm-pci assign --required) and restart the qube`);
    if (device.devclass !== 'block')
      throw new QubesError(
        `Cannot attach ${device.devclass} device ${device.backend}:${device.portId}: ${device.devclass} devices are attached through qrexec (usbip), which this build does not have`,
      );
    const flavour = flavourFor(this.vmm.uri);
    if (flavour === 'qemu' && device.backend !== 'dom0')
      throw new QubesError(`Cannot attach ${device.backend}:${device.portId}: QEMU domains take block devices from dom0 only (no backend domains)`);
    const dom = await this.liveDomain(vm);
    const xml = blockDiskXml(this.app, flavour, device, await this.withFrontend(vm, options));
    this.xml.delete(vm.name);
    await this.vmm.libvirt().attachDevice(dom, xml, DeviceModifyFlags.Live);
  }

  async detach(vm: QubesVM, device: Port): Promise<void> {
    if (this.vmm.offline) throw new VmmOfflineError();
    if (device.devclass !== 'block')
      throw new QubesError(`Cannot detach ${device.devclass} device ${device.backend}:${device.portId} from a running qube: not supported by this build`);
    // the frontend the device has in the domain names the disk to remove
    const held = (await this.attached(vm, 'block')).find((a) => a.device.backend === device.backend && a.device.portId === device.portId);
    if (!held) return;
    const dom = await this.liveDomain(vm);
    const xml = blockDiskXml(this.app, flavourFor(this.vmm.uri), device, held.options);
    this.xml.delete(vm.name);
    await this.vmm.libvirt().detachDevice(dom, xml, DeviceModifyFlags.Live);
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
