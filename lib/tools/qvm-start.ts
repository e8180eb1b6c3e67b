// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-start: start qubes (each after the net qubes it needs).
 * Reference: qubesadmin/tools/qvm_start.py; spec vmm.md §3.2, §6.2.
 */
import { QubesVMAlreadyStartedError } from '../errors.js';
import { eachQube, lifecycleFor } from './common/lifecycle-command.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-start',
  summary: 'start qubes',
  args: VM_ARGS,
  options: [{ flags: '--skip-if-running', description: 'a qube that is already running is not an error' }, ...SELECTION_OPTIONS],
};

interface Opts extends SelectionOpts {
  skipIfRunning?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const vms = selectQubes(ctx, opts, args);
  const life = lifecycleFor(ctx);
  const failures = await eachQube(
    ctx,
    vms,
    'Starting qube failed',
    (vm) => life.start(vm.name),
    (e) => Boolean(opts.skipIfRunning) && e instanceof QubesVMAlreadyStartedError,
  );
  return failures ? 1 : 0;
}
