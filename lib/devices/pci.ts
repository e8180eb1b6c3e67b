// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * dom0's PCI devices, read from sysfs (the reference asks libvirt's node
 * devices, which read the same files): one device per entry of
 * /sys/bus/pci/devices, its port the PCI path, its identity
 * `0xVENDOR:0xDEVICE::pCCSSII`, names from pci.ids when installed and the
 * numbers otherwise.
 *
 * Reference: qubes-core-admin: qubes/ext/pci.py; shared/spec/firewall-and-devices.md B2, B3, B7.
 */
import path from 'node:path';
import type { HwData } from './hwdata.js';
import { sanitizeIdPart, type DeviceInfo } from './model.js';
import { sbdfToPath } from '../host/pci-path.js';
import { listDir, readAttr } from '../host/sysfs.js';

const stripHex = (v: string | undefined) => (v ?? '').trim().replace(/^0x/i, '').toLowerCase();

/** @param warn gets `Unsupported device: NAME` for devices whose segment is wider than 4 digits */
export function listPciDevices(sys: string, hw: HwData, warn: (msg: string) => void = () => {}): DeviceInfo[] {
  const dir = path.join(sys, 'bus', 'pci', 'devices');
  const out: DeviceInfo[] = [];
  for (const sbdf of listDir(dir)) {
    if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(sbdf)) {
      warn(`Unsupported device: pci_${sbdf.replace(/[:.]/g, '_')}`);
      continue;
    }
    const portId = sbdfToPath(sys, sbdf);
    if (!portId) continue;
    out.push(pciDeviceInfo(sys, sbdf, portId, hw));
  }
  return out;
}

function pciDeviceInfo(sys: string, sbdf: string, portId: string, hw: HwData): DeviceInfo {
  const dev = path.join(sys, 'bus', 'pci', 'devices', sbdf);
  const vendorId = stripHex(readAttr(path.join(dev, 'vendor'))).padStart(4, '0');
  const productId = stripHex(readAttr(path.join(dev, 'device'))).padStart(4, '0');
  const klass = stripHex(readAttr(path.join(dev, 'class'))).padStart(6, '0');
  const iface = `p${klass}`;
  return {
    backend: 'dom0',
    portId,
    devclass: 'pci',
    deviceId: [sanitizeIdPart(`0x${vendorId}`), sanitizeIdPart(`0x${productId}`), '', iface].join(':'),
    vendor: hw.vendor('pci', vendorId) ?? `0x${vendorId}`,
    product: hw.device('pci', vendorId, productId) ?? `0x${productId}`,
    interfaces: [iface],
    data: [['sbdf', sbdf]],
  };
}
