// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the device operations need, made one way for qvm-device and the
 * daemon: the enumerator of what qubes expose (dom0 from sysfs, others
 * from QubesDB), the live attachments (through the hypervisor) and the
 * device events.
 */
import type { Qubes } from '../app/app.js';
import { hostRoots } from '../host/sysfs.js';
import { DeviceEnumerator } from './enumerate.js';
import { DeviceEvents } from './events.js';
import type { DeviceServices } from './operations.js';
import { VmmLiveDevices } from './runtime.js';

/** The devices qubes expose, for the store `app`; problems reading a backend go to `warn`. */
export function deviceEnumerator(app: Qubes, env: NodeJS.ProcessEnv, warn: (m: string) => void): DeviceEnumerator {
  return new DeviceEnumerator({ roots: hostRoots(env), vmm: app.vmm, env, warn });
}

export function deviceServices(app: Qubes, env: NodeJS.ProcessEnv, warn: (m: string) => void): DeviceServices {
  return { enumerator: deviceEnumerator(app, env, warn), live: new VmmLiveDevices(app, app.vmm, hostRoots(env)), events: new DeviceEvents() };
}
