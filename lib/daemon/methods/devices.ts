// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices: declared as the reference has them, one set per device class,
 * handlers to come with the second qubesd part (over lib/devices, as
 * qvm-device). Until then each answers as an unknown method.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_device_*).
 */
import { DEVICE_CLASSES } from '../../devices/model.js';
import { method, methods, type MethodDecl } from '../method.js';

const local = { scope: 'local', destAdminvm: null } as const;
const perClass = (action: string, o: Parameters<typeof methods>[2]) => methods(`admin.vm.device.{endpoint}.${action}`, DEVICE_CLASSES, o);

export const DEVICE_METHODS: MethodDecl[] = [
  ...perClass('Available', { ...local, wantsArg: null, wantsPayload: false }),
  ...perClass('Assigned', { ...local, wantsArg: null, wantsPayload: false }),
  ...perClass('Attached', { ...local, wantsArg: null, wantsPayload: false }),
  ...perClass('Assign', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  ...perClass('Unassign', { ...local, wantsArg: true, wantsPayload: false, write: true }),
  ...perClass('Attach', { ...local, wantsArg: true, wantsPayload: null, execute: true }),
  ...perClass('Detach', { ...local, wantsArg: true, wantsPayload: false, execute: true }),
  ...perClass('Set.assignment', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.device.denied.List', { ...local, wantsArg: false, wantsPayload: false }),
  method('admin.vm.device.denied.Add', { ...local, wantsArg: false, wantsPayload: null, write: true }),
  method('admin.vm.device.denied.Remove', { ...local, wantsArg: false, wantsPayload: null, write: true }),
];
