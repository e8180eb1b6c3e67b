// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `icon` property: the freedesktop icon name a GUI shows for a qube,
 * made of a kind and the label's name. A qube that says it is a service
 * qube (the `servicevm` feature, set while it provides network) gets the
 * service-qube icon whatever its class, except templates and disposable
 * templates, which keep the template icon. dom0's icon is always black.
 *
 * Reference: qubes-core-admin: qubes/vm/__init__.py BaseVM.icon,
 * qubes/vm/appvm.py AppVM.icon, qubes/vm/adminvm.py AdminVM.icon,
 * qubes/ext/core_features.py (servicevm).
 */
import { featureIsTrue } from './features.js';
import type { QubesVM } from './qubes-vm.js';

const KIND_BY_CLASS: Record<string, string> = { DispVM: 'dispvm', StandaloneVM: 'standalonevm', RemoteVM: 'remotevm' };

function iconKind(vm: QubesVM): string {
  if (vm.klass === 'TemplateVM') return 'templatevm';
  // only an AppVM shows that it is a disposable template (a StandaloneVM one keeps its own icon)
  if (vm.klass === 'AppVM' && vm.isDispvmTemplate()) return 'templatevm';
  if (featureIsTrue(vm.features.get('servicevm'))) return 'servicevm';
  return KIND_BY_CLASS[vm.klass] ?? 'appvm';
}

export function iconOf(vm: QubesVM): string {
  if (vm.klass === 'AdminVM') return 'adminvm-black';
  return `${iconKind(vm)}-${vm.get('label')}`;
}
