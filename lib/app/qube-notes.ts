// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Reading and changing a qube's notes (lib/vm/notes.ts) against the store:
 * the qube is looked up in the store, and a change is made under the store
 * lock, so that it is serialised with other changes of the notes and with
 * the qube's removal (notes never reappear in the directory of a qube
 * removed meanwhile). The store itself is not rewritten.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (admin.vm.notes.Get,
 * admin.vm.notes.Set); qubes-core-admin-client: qubesadmin/app.py
 * clone_vm (notes copied).
 */
import { QubesVMNotFoundError } from '../errors.js';
import { notesPath, readNotes, sanitizeNotes, writeNotes } from '../vm/notes.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Qubes } from './app.js';
import type { Store } from './store.js';

function vmOf(app: Qubes, name: string): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  return vm;
}

/** The notes of qube `name` ('' when it has none). @throws QubesVMNotFoundError, QubesError */
export function getNotes(store: Store, name: string): string {
  const app = store.read();
  return readNotes(notesPath(app.baseDir, vmOf(app, name)));
}

/**
 * Replace the notes of qube `name` with `change(current notes)`, sanitised
 * (see sanitizeNotes). Returns what was stored.
 * @throws QubesVMNotFoundError, QubesValueError (too long, not UTF-8), QubesError
 */
export async function changeNotes(store: Store, name: string, change: (notes: string) => Uint8Array): Promise<string> {
  return store.locked((app) => {
    const file = notesPath(app.baseDir, vmOf(app, name));
    const notes = sanitizeNotes(change(readNotes(file)));
    writeNotes(file, notes);
    return notes;
  });
}

/** qvm-clone, under the store lock: `dst` gets the notes of `src`, when it has any. @throws QubesError */
export function copyNotesIn(app: Qubes, src: QubesVM, dst: QubesVM): void {
  const notes = readNotes(notesPath(app.baseDir, src));
  // stored as a set would store them (a hand-written file may hold anything)
  if (notes) writeNotes(notesPath(app.baseDir, dst), sanitizeNotes(Buffer.from(notes, 'utf8')));
}
