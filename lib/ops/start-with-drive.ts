// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-start with a drive for that start only (--cdrom, --hddisk, --drive,
 * --install-windows-tools): the drive is prepared only for a halted qube
 * (a file of dom0 gets its loop device), goes into the domain XML of this
 * start, and is released after it, whether the start worked or not.
 *
 * Reference: qubesadmin/tools/qvm_start.py (start_expert, the drive
 * options); spec vmm.md §6.2.
 */
import type { Qubes } from '../app/app.js';
import type { DeviceEnumerator } from '../devices/enumerate.js';
import { driveBackend, prepareDrive, type DriveSpec } from '../devices/start-drive.js';
import type { CommandRunner } from '../storage/command-runner.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * Start `vm` with the drive `spec`. A qube that cannot start now (not
 * halted, or offline) is left to the lifecycle to refuse, before a loop
 * device is made for it. `warn` hears problems releasing the drive.
 */
export async function startWithDrive(
  life: Lifecycle,
  app: Qubes,
  enumerator: (app: Qubes) => DeviceEnumerator,
  runner: CommandRunner,
  vm: QubesVM,
  spec: DriveSpec,
  warn: (message: string) => void,
): Promise<void> {
  if (app.vmm.offline || (await life.state(vm.name)) !== 'Halted') return life.start(vm.name);
  const backend = driveBackend(app, spec);
  await app.vmm.refresh([backend]);
  const drive = await prepareDrive({ app, enumerator: enumerator(app), runner }, app.domains.get(vm.name) ?? vm, spec);
  try {
    await life.start(vm.name, { startOnlyBlock: [drive.assignment] });
  } finally {
    for (const w of await drive.release()) warn(w);
  }
}
