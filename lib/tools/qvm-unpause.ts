// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-unpause: let paused qubes run again. `--all` leaves out qubes with
 * the `internal` feature (as the reference).
 * Reference: qubesadmin/tools/qvm_unpause.py; spec vmm.md §3.6, §6.2.
 */
import { eachQube, lifecycleFor } from './common/lifecycle-command.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-unpause',
  summary: 'unpause paused qubes',
  args: VM_ARGS,
  options: SELECTION_OPTIONS,
};

export async function run(opts: SelectionOpts, args: string[], ctx: Context): Promise<number> {
  const life = lifecycleFor(ctx);
  const vms = selectQubes(ctx, opts, args, (vm) => Boolean(vm.features.get('internal')));
  const failures = await eachQube(ctx, vms, 'Failed to unpause', (vm) => life.unpause(vm.name));
  return failures ? 1 : 0;
}
