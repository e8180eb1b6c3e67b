// SPDX-License-Identifier: GPL-2.0-or-later
/** qvm-pci: qvm-device for the pci class (reference: a link to qvm-device). */
import { deviceSpec, runDevice, type DeviceOpts } from './common/device-command.js';
import type { Context } from './common/program.js';

export const spec = deviceSpec('qvm-pci', 'pci');

export async function run(opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  return runDevice('pci', opts, args, ctx);
}
