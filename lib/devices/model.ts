// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The device model: a port (backend qube, port id, class), the identity of
 * the device plugged into it (device id), and what is known about the
 * device. Ports and device ids may be `*` in assignments ("any").
 *
 * Reference: qubes-core-admin: qubes/device_protocol.py (R4.3);
 * shared/spec/firewall-and-devices.md B2, B3.
 */

/** Classes this version knows (the reference's admin.deviceclass.List, sorted). */
export const DEVICE_CLASSES = ['block', 'mic', 'pci', 'usb'] as const;

export const ANY = '*';

export interface Port {
  backend: string;
  portId: string;
  devclass: string;
}

/** A port plus the identity expected there; either part may be `*`. */
export interface VirtualDevice {
  port: Port;
  deviceId: string;
}

/** What a backend reports about the device at one of its ports. */
export interface DeviceInfo extends Port {
  deviceId: string;
  vendor?: string;
  product?: string;
  manufacturer?: string;
  name?: string;
  serial?: string;
  /** 7-character interface codes (`p0c0330`, `b******`). */
  interfaces: string[];
  parent?: Port;
  /** Extra keys shown by `info` (`sbdf`, block `size` and `mode`). */
  data: [string, string][];
  /** No device is known at this port (backend halted, port empty): it can still be detached. */
  unknown?: boolean;
}

/** The device id of a device nothing is known about. */
export const UNKNOWN_DEVICE_ID = '0000:0000::?******';
export const UNKNOWN_INTERFACE = '?******';

export const portText = (p: Port): string => `${p.backend}:${p.portId}`;
export const virtualText = (v: VirtualDevice): string => `${portText(v.port)}:${v.deviceId}`;

export function unknownDevice(port: Port, deviceId = UNKNOWN_DEVICE_ID): DeviceInfo {
  return { ...port, deviceId, interfaces: [], data: [], unknown: true };
}

export const samePort = (a: Port, b: Port): boolean => a.backend === b.backend && a.portId === b.portId && a.devclass === b.devclass;

/** Does a (possibly wildcard) virtual device match a concrete device? */
export function matches(v: VirtualDevice, dev: Port & { deviceId: string }): boolean {
  return (
    v.port.devclass === dev.devclass &&
    v.port.backend === dev.backend &&
    (v.port.portId === ANY || v.port.portId === dev.portId) &&
    (v.deviceId === ANY || v.deviceId === dev.deviceId)
  );
}

/** Characters a device id part may hold; others become `_` (reference PCI/USB identity). */
export const sanitizeIdPart = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');
