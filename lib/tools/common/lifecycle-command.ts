// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the commands that start, stop, pause and unpause qubes share: the
 * lifecycle session of the command, and per-qube failures reported as one
 * line each (the reference prints them and goes on with the other qubes).
 * The qube selection they use is in vm-args.ts.
 * Reference: qubesadmin/tools/__init__.py (VmNameAction), qvm_start.py,
 * qvm_shutdown.py, qvm_kill.py, qvm_pause.py, qvm_unpause.py.
 */
import { QubesError } from '../../errors.js';
import { Lifecycle } from '../../ops/lifecycle.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import type { Context } from './program.js';

/** The lifecycle of this command's session: -v shows progress, warnings always. */
export function lifecycleFor(ctx: Context): Lifecycle {
  return new Lifecycle(ctx.session);
}

/**
 * Run `action` for each qube in turn; a failure is printed as
 * `PROG: error: <prefix>: <qube>: <message>` and counted.
 */
export async function eachQube(
  ctx: Context,
  vms: QubesVM[],
  prefix: string,
  action: (vm: QubesVM) => Promise<void>,
  ignore: (e: unknown) => boolean = () => false,
): Promise<number> {
  let failures = 0;
  for (const vm of vms) {
    try {
      await action(vm);
    } catch (e) {
      if (ignore(e)) continue;
      if (!(e instanceof QubesError)) throw e;
      failures++;
      ctx.err(`${ctx.prog}: error: ${prefix}: ${vm.name}: ${e.message}\n`);
    }
  }
  return failures;
}
