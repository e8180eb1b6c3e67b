// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-pause: pause running qubes (their processors stop; memory stays).
 * `--suspend` asks for a suspend to RAM, which needs a Xen guest agent;
 * on other hypervisors it pauses, as the reference falls back.
 * Reference: qubesadmin/tools/qvm_pause.py; spec vmm.md §3.6, §6.2.
 */
import { eachQube, lifecycleFor } from './common/lifecycle-command.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-pause',
  summary: 'pause running qubes',
  args: VM_ARGS,
  options: [{ flags: '-S, --suspend', description: 'suspend instead of pausing (paused where suspend is not supported)' }, ...SELECTION_OPTIONS],
};

interface Opts extends SelectionOpts {
  suspend?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const life = lifecycleFor(ctx);
  const failures = await eachQube(ctx, selectQubes(ctx, opts, args), opts.suspend ? 'Failed to suspend' : 'Failed to pause', (vm) => life.pause(vm.name));
  return failures ? 1 : 0;
}
