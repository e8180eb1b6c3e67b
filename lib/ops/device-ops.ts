// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Device use cases (qvm-device, later the daemon's device methods): attach
 * and detach through the hypervisor, and assignments stored in qubes.xml
 * under the store's lock, each resolved against the store as it is then.
 * The command parses the device arguments and prints the hints.
 *
 * Reference: qubesadmin/tools/qvm_device.py (attach --persistent, detach
 * of every device, port `*`); qubes-core-admin: qubes/devices.py;
 * shared/spec/firewall-and-devices.md B9.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { ANY, matches, portText, UNKNOWN_DEVICE_ID, virtualText, type DeviceInfo, type Port, type VirtualDevice } from '../devices/model.js';
import { assign, attach, attachedTo, detach, unassign, type AssignRequest, type DeviceServices } from '../devices/operations.js';
import type { Options } from '../devices/options.js';
import { QubesError, QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';

function qube(app: Qubes, name: string): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  return vm;
}

/**
 * Attach `dev` to the running qube now. With `persistent` the device is
 * also assigned as required, and, as in the reference, a failed attach is
 * then ignored (the assignment works on a halted qube).
 */
export async function attachDevice(store: Store, svc: DeviceServices, app: Qubes, vmname: string, dev: DeviceInfo, options: Options, persistent: boolean): Promise<void> {
  try {
    await attach(svc, app, qube(app, vmname), dev, options);
  } catch (e) {
    if (!persistent || !(e instanceof QubesError)) throw e;
  }
  if (persistent)
    await store.update((fresh) => {
      assign(svc, qube(fresh, vmname), { device: { port: dev, deviceId: dev.deviceId }, mode: 'required', options });
    });
}

/**
 * Detach from `vm`: every attached device of the class (no `dev`), the
 * device at a port (refused when another one is there now), or with port
 * `*` every attached device of that backend (and identity, when given).
 */
export async function detachDevices(svc: DeviceServices, app: Qubes, vm: QubesVM, devclass: string, dev?: DeviceInfo): Promise<void> {
  const attached = await attachedTo(svc, app, vm, devclass);
  if (dev === undefined) {
    for (const a of attached) await detach(svc, app, vm, a.device);
    return;
  }
  if (dev.portId !== ANY) {
    const wanted: VirtualDevice = { port: dev, deviceId: dev.deviceId };
    const actual = await svc.enumerator.get(app.domains.get(dev.backend) as QubesVM, devclass, dev.portId);
    if (!matches(wanted, actual)) throw new QubesError(`${virtualText(wanted)} is not attached.`);
    await detach(svc, app, vm, dev);
    return;
  }
  const wanted: VirtualDevice = { port: dev, deviceId: dev.deviceId === UNKNOWN_DEVICE_ID ? ANY : dev.deviceId };
  const hits = attached.filter((a) => matches(wanted, a.device));
  if (!hits.length) throw new QubesError(`${virtualText(wanted)} is not attached.`);
  for (const a of hits) await detach(svc, app, vm, a.device);
}

/**
 * The backend `backend` stopped: detach what it provided from every
 * running qube that holds it, without the checks of a user's detach (a
 * required device goes too: it is gone already), and announce each as
 * device-detach. Returns what was detached.
 */
export async function detachProvidedBy(svc: DeviceServices, app: Qubes, backend: QubesVM): Promise<{ frontend: string; port: Port }[]> {
  const done: { frontend: string; port: Port }[] = [];
  for (const vm of app.domains.sorted()) {
    if (vm === backend || !svc.enumerator.isRunning(vm)) continue;
    for (const { device } of await svc.live.attached(vm, 'block')) {
      if (device.backend !== backend.name) continue;
      const ev = { vm: vm.name, device: portText(device) };
      svc.events.fire('device-pre-detach', device.devclass, ev);
      await svc.live.detach(vm, device);
      svc.events.fire('device-detach', device.devclass, ev);
      done.push({ frontend: vm.name, port: device });
    }
  }
  return done;
}

/** Store an assignment of `vmname` (or change the mode of one), under the store's lock. */
export async function assignDevice(store: Store, svc: DeviceServices, vmname: string, req: AssignRequest): Promise<void> {
  await store.update((fresh) => {
    assign(svc, qube(fresh, vmname), req);
  });
}

/** Remove assignments of `vmname`, under the store's lock; an attached device stays attached. */
export async function unassignDevices(store: Store, svc: DeviceServices, vmname: string, targets: VirtualDevice[]): Promise<void> {
  await store.update((fresh) => {
    const vm = qube(fresh, vmname);
    for (const t of targets) unassign(svc, vm, t);
  });
}
