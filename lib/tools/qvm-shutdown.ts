// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-shutdown: ask qubes to shut down, clients before the net qubes they
 * use: a net qube refused because a client still runs is asked again once
 * that client has stopped (the reference's rounds of retries). `--wait`
 * waits for each (up to --timeout, default its shutdown_timeout) and kills
 * those that do not stop in time. `--all` without `--exclude` implies
 * `--force`. Exit status: the number of qubes that failed.
 * Reference: qubesadmin/tools/qvm_shutdown.py; spec vmm.md §3.4, §6.2.
 */
import { QubesError, QubesVMInUseError, QubesVMNotStartedError, QubesVMShutdownTimeoutError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { lifecycleFor } from './common/lifecycle-command.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-shutdown',
  summary: 'shut qubes down',
  args: VM_ARGS,
  options: [
    { flags: '--wait', description: 'wait until the qubes have stopped (and kill those that do not in time)' },
    { flags: '--timeout <SECONDS>', description: "how long to wait (implies --wait; default each qube's shutdown_timeout)" },
    { flags: '--force', description: 'shut down even a net qube with running clients, or a paused qube' },
    { flags: '--dry-run', description: 'do nothing (compatibility)' },
    ...SELECTION_OPTIONS,
  ],
};

interface Opts extends SelectionOpts {
  wait?: boolean;
  timeout?: string;
  force?: boolean;
  dryRun?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const vms = selectQubes(ctx, opts, args);
  if (opts.dryRun) return 0;
  let timeout: number | undefined;
  if (opts.timeout !== undefined) {
    timeout = Number(opts.timeout);
    if (!Number.isFinite(timeout) || timeout < 0) throw new UsageError(`argument --timeout: invalid float value: '${opts.timeout}'`);
  }
  const wait = Boolean(opts.wait) || timeout !== undefined;
  const force = Boolean(opts.force) || (Boolean(opts.all) && !opts.exclude?.length);
  const life = lifecycleFor(ctx);
  const failed = new Map<string, string>();
  const fail = (vm: QubesVM, e: unknown) => {
    if (!(e instanceof QubesError)) throw e;
    failed.set(vm.name, e.message);
  };

  let remaining = vms;
  for (let round = 0; remaining.length > 0; round++) {
    const refused: QubesVM[] = [];
    const asked: QubesVM[] = [];
    for (const vm of remaining) {
      try {
        await life.shutdown(vm.name, { force });
        asked.push(vm);
      } catch (e) {
        if (e instanceof QubesVMNotStartedError) continue;
        if (e instanceof QubesVMInUseError) refused.push(vm);
        else fail(vm, e);
      }
    }
    // the refused ones wait for their clients: those must really stop first
    if (wait || refused.length) {
      await Promise.all(
        asked.map(async (vm) => {
          try {
            await life.waitForShutdown(vm.name, timeout);
          } catch (e) {
            if (!(e instanceof QubesVMShutdownTimeoutError)) return fail(vm, e);
            try {
              await life.kill(vm.name);
            } catch (e2) {
              if (!(e2 instanceof QubesVMNotStartedError)) fail(vm, e2);
            }
          }
        }),
      );
    }
    if (asked.length === 0) {
      for (const vm of refused) {
        try {
          await life.shutdown(vm.name, { force });
        } catch (e) {
          if (!(e instanceof QubesVMNotStartedError)) fail(vm, e);
        }
      }
      break;
    }
    remaining = refused;
  }
  for (const [name, msg] of failed) ctx.err(`${ctx.prog}: error: Failed to shut down ${name}: ${msg}\n`);
  return failed.size;
}
