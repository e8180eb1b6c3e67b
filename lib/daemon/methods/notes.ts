// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.notes.Get and Set: a qube's notes, as qvm-notes keeps them
 * (sanitised, at most 256000 bytes, under the store lock).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_notes_*).
 */
import { changeNotes, getNotes } from '../../app/qube-notes.js';
import { ProtocolError } from '../../errors.js';
import { MAX_NOTES_BYTES } from '../../vm/notes.js';
import { method, type MethodDecl } from '../method.js';

const local = { scope: 'local', destAdminvm: false, wantsArg: false } as const;

export const NOTES_METHODS: MethodDecl[] = [
  method('admin.vm.notes.Get', { ...local, wantsPayload: false }, (call) => getNotes(call.services.store, call.dest.name)),
  method('admin.vm.notes.Set', { ...local, wantsPayload: true, write: true }, async (call) => {
    if (call.payload.length > MAX_NOTES_BYTES)
      throw new ProtocolError(`Maximum note size is ${MAX_NOTES_BYTES} bytes (${call.payload.length} bytes received)`);
    await changeNotes(call.services.store, call.dest.name, () => call.payload);
  }),
];
