// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-remove, and the auto-cleanup of a disposable: the qube's volumes are
 * recorded as about to go before the store update that drops it, so a
 * killed removal is finished by the next command (lib/storage/unfinished-qubes.ts).
 */
import type { Store } from '../app/store.js';
import { LibvirtNoDomainError } from '../errors.js';
import { QubeClaim, recoverUnfinished, unfinishedNames, unfinishedRecord } from '../storage/unfinished-qubes.js';
import { runsHere } from '../vm/vm-properties.js';
import { autostartChanged, autostarts } from './autostart.js';
import type { Vmm } from '../vmm/vmm.js';
import { requireHalted, sameQube } from './halted-qube.js';
import type { StorageContext } from '../storage/pool.js';
import { workContext } from './work-context.js';

/**
 * Remove one qube: its volumes are recorded as about to go, the store
 * update drops it, then its volumes and its own directory (`appvms/NAME`:
 * firewall.xml lives there, and must not pass to a later qube of the same
 * name) go outside the lock. Killed at any point, the next command
 * finishes the removal (or finds the qube whole). Returns warnings (disk
 * removal problems are not fatal). dom0, qubes installed by the package
 * manager and qubes in use are refused by the core (Qubes.removeVm).
 * @throws QubesVMInUseError (with the usages), QubesError
 */
export async function removeQube(store: Store, name: string, storage: StorageContext): Promise<string[]> {
  // dom0 never halts: skip the power check and let removeVm refuse it; a remote qube has no power state here.
  const checked = await requireHalted(store, name, (vm) => !runsHere(vm.klass));
  const ctx = workContext(storage);
  const problems = await recoverUnfinished(store, ctx);
  const claim = await QubeClaim.take(store, name, ctx);
  problems.push(...claim.notes);
  let refused: unknown;
  let autostart = false;
  try {
    await store.update(async (app) => {
      const vm = sameQube(app, name, checked);
      autostart = autostarts(vm);
      if (vm.klass !== 'AdminVM') await claim.write(unfinishedRecord('remove', vm));
      app.removeVm(vm);
    });
  } catch (e) {
    refused = e;
  }
  // dropped from the store: its volumes and directory go; still there (refused): nothing is touched
  problems.push(...(await claim.settle(ctx)));
  if (refused) throw refused;
  const unit = await autostartChanged(storage.runner, name, autostart, false);
  if (unit) problems.push(unit);
  if (checked.uuid && !store.vmm.offline && runsHere(checked.klass)) {
    try {
      await undefineDomain(store.vmm, checked.uuid);
    } catch (e) {
      problems.push(`cannot remove the libvirt domain of ${name}: ${(e as Error).message}`);
    }
  }
  return problems;
}

/**
 * `qvm-remove NAME` for a name the store does not have but an unfinished
 * create or remove recorded: what that killed command left is removed.
 * Returns what was done, or undefined when NAME has no such record.
 * @throws QubesError while a live command works on NAME
 */
export async function removeUnfinished(store: Store, name: string, storage: StorageContext): Promise<string[] | undefined> {
  if (!unfinishedNames(store).includes(name)) return undefined;
  const claim = await QubeClaim.take(store, name, storage);
  await claim.settle(storage);
  return claim.notes;
}

/** Forget the qube's libvirt domain (defined at its last start), as the reference does on removal. */
async function undefineDomain(vmm: Vmm, uuid: string): Promise<void> {
  const conn = vmm.libvirt();
  try {
    await conn.undefine(await conn.lookupByUuid(uuid));
  } catch (e) {
    if (!(e instanceof LibvirtNoDomainError)) throw e;
  }
}
