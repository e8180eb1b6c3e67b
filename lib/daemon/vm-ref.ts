// SPDX-License-Identifier: GPL-2.0-or-later
/** The qube a request names, looked up again in the store a change reads under its lock. */
import type { Qubes } from '../app/app.js';
import { QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';

/** The reference's words for a qube that does not exist (qubes/exc.py). */
export const vmGone = (name: string): QubesVMNotFoundError => new QubesVMNotFoundError(name, `No such domain: '${name}'`);

/** The qube `name` in `app`. @throws QubesVMNotFoundError when it was removed meanwhile */
export function sameVm(app: Qubes, name: string): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw vmGone(name);
  return vm;
}
