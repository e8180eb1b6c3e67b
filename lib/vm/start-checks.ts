// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What forbids a halted qube to start, checked before any work is done:
 * the `prohibit-start` feature (its value says why), a restore of the qube
 * still in progress (the `backup-restore-in-progress` tag, set by a
 * restore while it writes the qube's data), and a disposable whose
 * template is no longer a disposable template.
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py start (prohibit-start),
 * qubes/ext/backup_restore.py (domain-pre-start), qubes/vm/dispvm.py.
 */
import { QubesError, QubesVMError } from '../errors.js';
import type { QubesVM } from './qubes-vm.js';

export const RESTORE_IN_PROGRESS_TAG = 'backup-restore-in-progress';

/** @throws QubesError saying why the qube may not start */
export function assertStartAllowed(vm: QubesVM): void {
  const prohibit = vm.features.get('prohibit-start');
  if (prohibit) throw new QubesError(`Qube start is prohibited. Rationale: ${prohibit}`);
  if (vm.tags.has(RESTORE_IN_PROGRESS_TAG)) throw new QubesVMError('Restore of this domain in progress, cannot start');
  if (vm.klass === 'DispVM' && vm.templateVm()?.get('template_for_dispvms') !== true)
    throw new QubesError(`Template of disposable ${vm.name} is not a disposable template`);
}
