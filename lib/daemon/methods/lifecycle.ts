// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starting and stopping qubes, and their console: declared as the
 * reference has them, handlers to come with the second qubesd part (over
 * lib/ops, as qvm-start and friends). Until then each answers as an
 * unknown method.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_start ... vm_kill,
 * vm_console).
 */
import { method, type MethodDecl } from '../method.js';

const run = { scope: 'local', destAdminvm: null, wantsPayload: false, execute: true } as const;

export const LIFECYCLE_METHODS: MethodDecl[] = [
  method('admin.vm.Start', { ...run, wantsArg: false }),
  method('admin.vm.Shutdown', { ...run, wantsArg: null }),
  method('admin.vm.Pause', { ...run, wantsArg: false }),
  method('admin.vm.Unpause', { ...run, wantsArg: false }),
  method('admin.vm.Suspend', { ...run, wantsArg: false }),
  method('admin.vm.Resume', { ...run, wantsArg: false }),
  method('admin.vm.Kill', { ...run, wantsArg: false }),
  method('admin.vm.Console', { scope: 'local', destAdminvm: null, wantsArg: false, wantsPayload: false, write: true }),
];
