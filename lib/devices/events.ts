// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Device events, announced to listeners in process (a manager or device
 * widget subscribes to `event`, or to one name such as
 * `device-attach:block`). Each carries the frontend qube, the device and
 * the options, as the reference's per-qube events do.
 *
 * Reference: qubes-core-admin: qubes/devices.py DeviceCollection;
 * shared/spec/firewall-and-devices.md B5, B6.
 */
import events from 'node:events';
const { EventEmitter } = events;

export type DeviceEventName =
  | 'device-pre-attach'
  | 'device-attach'
  | 'device-pre-detach'
  | 'device-detach'
  | 'device-pre-assign'
  | 'device-assign'
  | 'device-unassign'
  | 'device-assignment-changed';

export interface DeviceEvent {
  /** `«name»:«class»`, e.g. `device-assign:pci`. */
  event: string;
  /** The frontend qube. */
  vm: string;
  /** `backend:port` or `backend:port:device_id`. */
  device: string;
  /** The identity of the device at the port, when known (an attach). */
  deviceId?: string;
  options?: [string, string][];
  mode?: string;
}

export class DeviceEvents extends EventEmitter {
  fire(name: DeviceEventName, devclass: string, e: Omit<DeviceEvent, 'event'>): void {
    const ev: DeviceEvent = { event: `${name}:${devclass}`, ...e };
    this.emit(ev.event, ev);
    this.emit('event', ev);
  }
}

/** The log line of an event that changed something (pre-events are not logged). */
export function eventLogLine(e: DeviceEvent): string | undefined {
  if (e.event.startsWith('device-pre-')) return undefined;
  const opts = e.options?.length ? ` (${e.options.map(([k, v]) => `${k}=${v}`).join(', ')})` : '';
  const mode = e.mode ? ` mode=${e.mode}` : '';
  return `${e.vm}: ${e.event} ${e.device}${mode}${opts}`;
}
