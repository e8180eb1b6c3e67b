// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.tag.*: List (sorted), Get (`1` or `0`), Set, Remove, with the
 * same rules as qvm-tags (tag syntax; created-by-* tags only from dom0,
 * which also adds the creator's tag-created-vm-with tags).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_tag_*).
 */
import { QubesTagNotFoundError } from '../../errors.js';
import { addTag, assertTagChangeAllowed } from '../../vm/admin-extension.js';
import { validateTag } from '../../vm/tags.js';
import { method, type MethodDecl } from '../method.js';
import { sameVm } from '../vm-ref.js';

const local = { scope: 'local', destAdminvm: null, wantsPayload: false } as const;

export const TAG_METHODS: MethodDecl[] = [
  method('admin.vm.tag.List', { ...local, wantsArg: false }, (call) => call.dest.tags.sorted().map((t) => `${t}\n`).join('')),
  method('admin.vm.tag.Get', { ...local, wantsArg: true }, (call) => (call.dest.tags.has(validateTag(call.arg)) ? '1' : '0')),
  method('admin.vm.tag.Set', { ...local, wantsArg: true, write: true }, async (call) => {
    validateTag(call.arg);
    assertTagChangeAllowed(call.src, call.arg);
    await call.write((app) => addTag(sameVm(app, call.dest.name), call.arg));
  }),
  method('admin.vm.tag.Remove', { ...local, wantsArg: true, write: true }, async (call) => {
    validateTag(call.arg);
    assertTagChangeAllowed(call.src, call.arg);
    await call.write((app) => {
      const vm = sameVm(app, call.dest.name);
      if (!vm.tags.delete(call.arg)) throw new QubesTagNotFoundError(vm.name, call.arg);
    });
  }),
];
