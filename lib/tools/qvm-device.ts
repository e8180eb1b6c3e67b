// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-device CLASS {list,attach,detach,assign,unassign,info}. Run through a
 * link named `qvm-CLASS` (qvm-pci, qvm-block and qvm-usb are also commands
 * of their own) the class comes from the name and is not an argument, as in
 * the reference. Reference: qubesadmin/tools/qvm_device.py; spec B9.
 */
import { classFromProgram, deviceSpec, runDevice, type DeviceOpts } from './common/device-command.js';
import type { Context } from './common/program.js';

const linkedClass = classFromProgram(process.argv[1]);

export const spec = linkedClass ? deviceSpec(`qvm-${linkedClass}`, linkedClass) : deviceSpec('qvm-device');

export async function run(opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  return runDevice(linkedClass, opts, args, ctx);
}
