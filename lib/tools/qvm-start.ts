// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-start: start qubes (each after the net qubes it needs), optionally
 * with a drive for that start only (a CD-ROM or hard disk; see
 * lib/devices/start-drive.ts and lib/ops/start-with-drive.ts).
 * Reference: qubesadmin/tools/qvm_start.py, qubesadmin/utils (DriveAction,
 * start_expert); spec vmm.md §3.2, §6.2.
 */
import fs from 'node:fs';
import { windowsToolsIso } from '../config.js';
import { driveBackend, parseDrive, type DriveSpec } from '../devices/start-drive.js';
import { QubesError, QubesValueError, QubesVMAlreadyStartedError } from '../errors.js';
import { startWithDrive } from '../ops/start-with-drive.js';
import { commandRunner } from '../storage/command-runner.js';
import { commandEnumerator } from './common/device-command.js';
import { UsageError } from './common/errors.js';
import { eachQube, lifecycleFor } from './common/lifecycle-command.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { selectQubes, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-start',
  summary: 'start qubes',
  args: VM_ARGS,
  options: [
    { flags: '--skip-if-running', description: 'a qube that is already running is not an error' },
    {
      flags: '--drive <DRIVE>',
      description: 'for this start only, attach a drive: [cdrom:|hd:]VM:PATH (a file of dom0) or [cdrom:|hd:]VM:PORT (a block device VM exposes); a CD-ROM unless hd:',
    },
    { flags: '--hddisk <IMAGE>', description: 'for this start only, attach VM:PATH or VM:PORT as a hard disk (--drive=hd:IMAGE)' },
    { flags: '--cdrom <IMAGE>', description: 'for this start only, attach VM:PATH or VM:PORT as a read-only CD-ROM (--drive=cdrom:IMAGE)' },
    { flags: '--install-windows-tools', description: 'for this start only, attach the Qubes Windows Tools ISO as a CD-ROM' },
    ...SELECTION_OPTIONS,
  ],
};

interface Opts extends SelectionOpts {
  skipIfRunning?: boolean;
  drive?: string;
  hddisk?: string;
  cdrom?: string;
  installWindowsTools?: boolean;
}

/**
 * The drive asked for, as `--drive` text; the four options exclude each
 * other (the reference's mutually exclusive group; the message names them
 * in its declaration order, argparse in command-line order).
 */
function driveOption(opts: Opts, env: NodeJS.ProcessEnv): { text: string; windowsTools: boolean } | undefined {
  const given: [string, string | undefined][] = [
    ['--drive', opts.drive],
    ['--hddisk', opts.hddisk === undefined ? undefined : `hd:${opts.hddisk}`],
    ['--cdrom', opts.cdrom === undefined ? undefined : `cdrom:${opts.cdrom}`],
    ['--install-windows-tools', opts.installWindowsTools ? `cdrom:dom0:${windowsToolsIso(env)}` : undefined],
  ];
  const set = given.filter((g): g is [string, string] => g[1] !== undefined);
  const [first, second] = set;
  if (second && first) throw new UsageError(`argument ${second[0]}: not allowed with argument ${first[0]}`);
  return first && { text: first[1], windowsTools: first[0] === '--install-windows-tools' };
}

/** The drive, checked before any qube starts. @throws UsageError (bad text), QubesVMNotFoundError, QubesError (no Windows Tools ISO) */
function checkedDrive(opts: Opts, ctx: Context): DriveSpec | undefined {
  const d = driveOption(opts, ctx.env);
  if (!d) return undefined;
  let spec: DriveSpec;
  try {
    spec = parseDrive(d.text);
  } catch (e) {
    if (e instanceof QubesValueError) throw new UsageError(e.message);
    throw e;
  }
  driveBackend(ctx.session.app(), spec);
  if (d.windowsTools && !fs.existsSync(spec.target))
    throw new QubesError(`the Qubes Windows Tools ISO ${spec.target} is missing (install the qubes-windows-tools package)`);
  return spec;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const vms = selectQubes(ctx, opts, args);
  const drive = checkedDrive(opts, ctx);
  const life = lifecycleFor(ctx);
  const failures = await eachQube(
    ctx,
    vms,
    'Starting qube failed',
    (vm) =>
      drive
        ? startWithDrive(life, ctx.session.app(), (app) => commandEnumerator(app, ctx), commandRunner(ctx.env), vm, drive, (w) => ctx.err(`${ctx.prog}: warning: ${w}\n`))
        : life.start(vm.name),
    (e) => Boolean(opts.skipIfRunning) && e instanceof QubesVMAlreadyStartedError,
  );
  return failures ? 1 : 0;
}
