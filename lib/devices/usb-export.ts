// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What dom0 exposes as USB devices (when its USB controllers are not given
 * to a USB qube), from /sys/bus/usb/devices, in the shape the reference's
 * udev script writes into QubesDB: `/qubes-usb-devices/PORT/{desc,usb-ver,
 * interfaces}` with `.` in the port written `_`. Hubs and usbip devices are
 * left out, as there.
 *
 * Reference: qubes-linux-utils: udev/udev-usb-add-change; shared/spec/firewall-and-devices.md B3, B7.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listDir, readAttr, type HostRoots } from '../host/sysfs.js';

export const USB_QDB_PREFIX = '/qubes-usb-devices/';
const DEVICE_RE = /^\d+-\d+(\.\d+)*$/;

/** udev's `_ENC` form: bytes outside printable ASCII and spaces as `\xNN`. */
const udevEnc = (s: string): string =>
  [...Buffer.from(s, 'utf8')].map((b) => (b > 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');

export function exportUsbDevices(roots: HostRoots): Map<string, string> {
  const dir = path.join(roots.sys, 'bus', 'usb', 'devices');
  const entries = new Map<string, string>();
  for (const port of listDir(dir)) {
    if (!DEVICE_RE.test(port)) continue;
    const d = path.join(dir, port);
    if (readAttr(path.join(d, 'bDeviceClass'))?.trim() === '09') continue;
    let real = '';
    try {
      real = fs.realpathSync(d);
    } catch {
      continue;
    }
    if (real.includes('/vhci_hcd')) continue;
    const attr = (n: string) => readAttr(path.join(d, n))?.trim() ?? '';
    const ifaces = new Set<string>();
    for (const sub of listDir(d)) {
      if (!sub.startsWith(`${port}:`)) continue;
      const a = (n: string) => readAttr(path.join(d, sub, n))?.trim() ?? '';
      ifaces.add(`${a('bInterfaceClass')}${a('bInterfaceSubClass')}${a('bInterfaceProtocol')}`.toLowerCase());
    }
    const key = `${USB_QDB_PREFIX}${port.replace(/\./g, '_')}`;
    entries.set(`${key}/desc`, `${attr('idVendor')}:${attr('idProduct')} ${udevEnc(attr('manufacturer'))} ${udevEnc(attr('product'))} ${attr('serial')}`);
    entries.set(`${key}/usb-ver`, attr('version').split('.')[0] ?? '');
    entries.set(`${key}/interfaces`, ifaces.size ? `:${[...ifaces].join(':')}:` : '');
  }
  return entries;
}
