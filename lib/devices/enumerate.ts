// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Which devices each qube exposes, per class: PCI from dom0's sysfs; block
 * and USB from the backend's QubesDB (dom0's made from sysfs). A backend
 * that is not running exposes nothing. Results are cached per qube and
 * class for the life of one command.
 *
 * Reference: qubes-core-admin: qubes/ext/pci.py, qubes/ext/block.py
 * (device-list, device-get); shared/spec/firewall-and-devices.md B7.
 * The `mic` class (audio extension, not in the reference sources) exposes
 * nothing here.
 */
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Vmm } from '../vmm/vmm.js';
import { blockDevicesFromQdb } from './block.js';
import { HwData } from './hwdata.js';
import { unknownDevice, UNKNOWN_DEVICE_ID, type DeviceInfo } from './model.js';
import { listPciDevices } from './pci.js';
import { Dom0QubesDb, VmmQubesDb, type QubesDbReader } from './runtime.js';
import type { Env } from '../config.js';
import type { HostRoots } from '../host/sysfs.js';
import { USB_QDB_PREFIX } from './usb-export.js';
import { usbDevicesFromQdb } from './usb.js';
import { BLOCK_QDB_PREFIX } from './block-export.js';

export interface EnumeratorOptions {
  roots: HostRoots;
  vmm: Vmm;
  hw?: HwData;
  /** A running qube's QubesDB; dom0's is made from sysfs. */
  qubesDb?: (vm: QubesVM) => QubesDbReader;
  /** Where other qubes' QubesDB sockets are found (QUBESDB_SOCKET_DIR). */
  env: Env;
  warn?: (msg: string) => void;
}

export class DeviceEnumerator {
  readonly hw: HwData;
  private readonly cache = new Map<string, Promise<DeviceInfo[]>>();
  private readonly warned = new Set<string>();

  constructor(private readonly opts: EnumeratorOptions) {
    this.hw = opts.hw ?? new HwData(opts.env);
  }

  get sysRoot(): string {
    return this.opts.roots.sys;
  }

  isRunning(vm: QubesVM): boolean {
    return vm.klass === 'AdminVM' || this.opts.vmm.info(vm).state === 'Running';
  }

  isHalted(vm: QubesVM): boolean {
    return vm.klass !== 'AdminVM' && this.opts.vmm.info(vm).state === 'Halted';
  }

  /** Each distinct warning once per command (the reference logs `Unsupported device` once per name). */
  private warn = (msg: string): void => {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.opts.warn?.(msg);
  };

  private qubesDb(vm: QubesVM): QubesDbReader {
    if (vm.klass === 'AdminVM') return new Dom0QubesDb(this.opts.roots);
    return this.opts.qubesDb?.(vm) ?? new VmmQubesDb(this.opts.vmm, vm, this.opts.env);
  }

  exposed(vm: QubesVM, devclass: string): Promise<DeviceInfo[]> {
    const key = `${vm.name}\0${devclass}`;
    let list = this.cache.get(key);
    if (!list) {
      list = this.isRunning(vm) ? this.list(vm, devclass) : Promise.resolve([]);
      this.cache.set(key, list);
    }
    return list;
  }

  private async list(vm: QubesVM, devclass: string): Promise<DeviceInfo[]> {
    switch (devclass) {
      case 'pci':
        return vm.klass === 'AdminVM' ? listPciDevices(this.opts.roots.sys, this.hw, this.warn) : [];
      case 'block': {
        const usb = await this.exposed(vm, 'usb');
        return blockDevicesFromQdb(vm.name, await this.qubesDb(vm).multiread(BLOCK_QDB_PREFIX), this.warn, (port) =>
          usb.find((d) => d.portId === port)?.deviceId ?? UNKNOWN_DEVICE_ID,
        );
      }
      case 'usb':
        return usbDevicesFromQdb(vm.name, await this.qubesDb(vm).multiread(USB_QDB_PREFIX), this.hw, this.warn);
      default:
        return [];
    }
  }

  /** The device at a port, or an unknown device (which can still be detached or unassigned). */
  async get(vm: QubesVM, devclass: string, portId: string): Promise<DeviceInfo> {
    return (
      (await this.exposed(vm, devclass)).find((d) => d.portId === portId) ??
      unknownDevice({ backend: vm.name, portId, devclass }, UNKNOWN_DEVICE_ID)
    );
  }
}
