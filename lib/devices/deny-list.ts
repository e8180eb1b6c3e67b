// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's `devices_denied`: 7-character interface codes (`b`/`u`/`m`/`p`
 * and six hex digits, `*` matching any character). Assigning such a device
 * is allowed, with a warning; auto-attach still works.
 *
 * Reference: qubesadmin/tools/qvm_device.py assign_device (the deny-list
 * warning); shared/spec/firewall-and-devices.md B9.
 */
import type { QubesVM } from '../vm/qubes-vm.js';
import type { DeviceInfo } from './model.js';

/** Any interface of the device on the qube's deny list? */
export function onDenyList(dev: DeviceInfo, vm: QubesVM): boolean {
  const denied = vm.has('devices_denied') ? String(vm.get('devices_denied') ?? '') : '';
  const patterns = denied.match(/.{7}/g) ?? [];
  const fits = (p: string, i: string) => [...p].every((c, k) => c === '*' || i[k] === '*' || c === i[k]);
  return patterns.some((p) => dev.interfaces.some((i) => fits(p, i)));
}
