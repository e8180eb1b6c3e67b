// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-device CLASS {list,attach,detach,assign,unassign,info}. Run through a
 * link named `qvm-CLASS` (other than qvm-pci/-block/-usb, which are
 * commands of their own) the class comes from the name, as in the
 * reference. Reference: qubesadmin/tools/qvm_device.py; spec B9.
 */
import { classFromProgram, deviceSpec, runDevice, type DeviceOpts } from './common/device-command.js';
import type { Context } from './common/program.js';

export const spec = deviceSpec('qvm-device');

export async function run(opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  return runDevice(classFromProgram(process.argv[1]), opts, args, ctx);
}
