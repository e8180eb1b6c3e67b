// SPDX-License-Identifier: GPL-2.0-or-later
/** qvm-usb: qvm-device for the usb class (reference: a link to qvm-device). */
import { deviceSpec, runDevice, type DeviceOpts } from './common/device-command.js';
import type { Context } from './common/program.js';

export const spec = deviceSpec('qvm-usb', 'usb');

export async function run(opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  return runDevice('usb', opts, args, ctx);
}
