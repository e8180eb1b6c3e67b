// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating and removing qubes: declared as the reference has them (one
 * Create and one CreateInPool per class a client may ask for), handlers
 * to come with the second qubesd part (over lib/ops, as qvm-create and
 * qvm-remove). Until then each answers as an unknown method.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_create,
 * vm_create_in_pool, create_disposable, vm_remove).
 */
import { VM_CLASSES } from '../../vm/vm-properties.js';
import { method, methods, type MethodDecl } from '../method.js';

const create = { scope: 'global', destAdminvm: true, wantsArg: null, wantsPayload: null, write: true } as const;

export const QUBE_METHODS: MethodDecl[] = [
  ...methods('admin.vm.Create.{endpoint}', VM_CLASSES, create),
  ...methods('admin.vm.CreateInPool.{endpoint}', VM_CLASSES, create),
  method('admin.vm.CreateDisposable', { ...create, destAdminvm: null }),
  method('admin.vm.Remove', { scope: 'global', destAdminvm: null, wantsArg: false, wantsPayload: false, write: true }),
];
