// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-device CLASS {list,attach,detach,assign,unassign,info}. Run through a
 * link named `qvm-CLASS` (qvm-pci, qvm-block and qvm-usb are also commands
 * of their own) the class comes from the name and is not an argument, as in
 * the reference. Reference: qubesadmin/tools/qvm_device.py; spec B9.
 */
import { classFromProgram, deviceSpec, runDevice, type DeviceOpts } from './common/device-command.js';
import type { CommandEntry, Context } from './common/program.js';

export const spec = deviceSpec('qvm-device');

export async function run(opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  return runDevice(undefined, opts, args, ctx);
}

/** Run as `qvm-CLASS` (a link): that class's command, without the CLASS argument. */
export function forProgram(program: string | undefined): CommandEntry<DeviceOpts> | undefined {
  const linked = classFromProgram(program);
  if (!linked) return undefined;
  return { spec: deviceSpec(`qvm-${linked}`, linked), run: (opts, args, ctx) => runDevice(linked, opts, args, ctx) };
}
