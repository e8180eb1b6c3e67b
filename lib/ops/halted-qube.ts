// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The power check a clone or removal needs, made before the store lock
 * (no hypervisor work under the lock), and the re-check under the lock that
 * the qube is still the one that was checked.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { QubesError, QubesVMNotFoundError, QubesVMNotHaltedError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';

/** The qube checked before the lock, identified by its uuid. */
export interface CheckedQube {
  name: string;
  uuid: string | undefined;
  klass: string;
}

/**
 * The power-state check, done before taking the store lock (spec §4.3: no
 * hypervisor work under the lock): read the store without locking, refresh
 * the qube's runtime state and require it to be halted. `precheck` runs
 * first; it may throw, or return true to skip the power check.
 * @throws QubesVMNotFoundError, QubesVMNotHaltedError, VmmError
 */
export async function requireHalted(store: Store, name: string, precheck?: (vm: QubesVM) => boolean | void): Promise<CheckedQube> {
  const app = store.read();
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  const checked = { name, uuid: vm.props.get('uuid'), klass: vm.klass };
  if (precheck?.(vm) === true) return checked;
  await app.vmm.refresh([vm]);
  if (app.vmm.info(vm).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${vm.name}'`);
  return checked;
}

/**
 * Under the lock: the qube checked by requireHalted, still the same one
 * (a qube removed and re-created under its name since has not been checked).
 */
export function sameQube(app: Qubes, name: string, checked: CheckedQube): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  if (vm.props.get('uuid') !== checked.uuid) throw new QubesError(`Qube ${name} was replaced by another one meanwhile; try again`);
  return vm;
}
