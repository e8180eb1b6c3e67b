// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The device services of one command: the enumerator of what qubes expose,
 * live attach and detach through the hypervisor, and the device events.
 */
import type { Qubes } from '../app/app.js';
import type { Env, HostRoots } from '../config.js';
import { DeviceEnumerator } from './enumerate.js';
import { DeviceEvents, eventLogLine } from './events.js';
import type { DeviceServices } from './operations.js';
import { VmmLiveDevices } from './runtime.js';

export interface ServiceHooks {
  /** Each distinct enumeration warning, once. */
  warn?: (message: string) => void;
  /** The log line of each device event (attach, detach, assign, ...). */
  event?: (line: string) => void;
}

/** The devices qubes expose, as one command sees them. */
export function deviceEnumerator(app: Qubes, roots: HostRoots, env: Env, warn?: (message: string) => void): DeviceEnumerator {
  return new DeviceEnumerator({ roots, vmm: app.vmm, env, ...(warn ? { warn } : {}) });
}

export function deviceServices(app: Qubes, roots: HostRoots, env: Env, hooks: ServiceHooks = {}): DeviceServices {
  const events = new DeviceEvents();
  const { event } = hooks;
  if (event)
    events.on('event', (e) => {
      const line = eventLogLine(e);
      if (line) event(line);
    });
  return { enumerator: deviceEnumerator(app, roots, env, hooks.warn), live: new VmmLiveDevices(app, app.vmm, roots), events };
}
