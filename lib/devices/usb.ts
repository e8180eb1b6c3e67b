// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * USB devices of a backend, read from its QubesDB entries
 * (`/qubes-usb-devices/PORT/{desc,usb-ver,interfaces}`). The port id is the
 * sysfs bus path (`1-1.1`); the identity `0xVID:0xPID:SERIAL:INTERFACES`.
 *
 * [unsure] The R4 usb class lives in qubes-app-linux-usb-proxy, outside the
 * reference sources the spec was written from; this follows the shape of
 * the QubesDB entries and of the PCI identity (spec B2, B3).
 */
import type { HwData } from './hwdata.js';
import { sanitizeIdPart, type DeviceInfo } from './model.js';
import { qdbDevices } from './runtime.js';
import { USB_QDB_PREFIX } from './usb-export.js';

const KEY_RE = /^[0-9]+-[0-9]+(_[0-9]+)*$/;

/** Undo udev's `\xNN` escapes; keep printable ASCII only. */
const decodeEnc = (s: string): string =>
  s.replace(/\\x([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/[^\x20-\x7e]/g, '_').trim();

export function usbDevicesFromQdb(backend: string, entries: Map<string, string>, hw: HwData, warn: (m: string) => void): DeviceInfo[] {
  const out: DeviceInfo[] = [];
  for (const { key: k, fields } of qdbDevices(backend, entries, USB_QDB_PREFIX, KEY_RE, warn)) {
    const desc = (fields.get('desc') ?? '').replace(/[^\x20-\x7e]/g, '_');
    const [ids = '', vendorEnc = '', productEnc = '', serial = ''] = desc.split(' ');
    const [vid = '0000', pid = '0000'] = ids.split(':');
    const interfaces = (fields.get('interfaces') ?? '')
      .split(':')
      .filter((i) => /^[0-9a-f*]{6}$/i.test(i))
      .map((i) => `u${i.toLowerCase()}`);
    const vendor = decodeEnc(vendorEnc) || hw.vendor('usb', vid) || '';
    const product = decodeEnc(productEnc) || hw.device('usb', vid, pid) || '';
    out.push({
      backend,
      portId: k.replace(/_/g, '.'),
      devclass: 'usb',
      deviceId: [sanitizeIdPart(`0x${vid}`), sanitizeIdPart(`0x${pid}`), sanitizeIdPart(serial), interfaces.join('')].join(':'),
      vendor,
      product,
      serial,
      interfaces,
      data: [],
    });
  }
  return out;
}
