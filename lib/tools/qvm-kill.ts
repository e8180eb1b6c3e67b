// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-kill: stop qubes at once (no shutdown inside the qube); their
 * volumes are then stopped as after a shutdown. A halted qube is not an
 * error. Exit status: the number of qubes that could not be killed.
 * Reference: qubesadmin/tools/qvm_kill.py; spec vmm.md §3.5, §6.2.
 */
import { QubesVMNotStartedError } from '../errors.js';
import { eachQube, lifecycleFor } from './common/lifecycle-command.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-kill',
  summary: 'kill qubes (stop them at once)',
  args: VM_ARGS,
  options: SELECTION_OPTIONS,
};

export async function run(opts: SelectionOpts, args: string[], ctx: Context): Promise<number> {
  const life = lifecycleFor(ctx);
  return eachQube(ctx, selectQubes(ctx, opts, args), 'Failed to kill', (vm) => life.kill(vm.name), (e) => e instanceof QubesVMNotStartedError);
}
