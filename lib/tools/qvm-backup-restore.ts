// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-backup-restore: verify or restore a backup (format 4, and format 3
 * from R2/R3) from a file or standard input. Nothing is added to the host
 * before every byte of it is authenticated and complete (see
 * lib/backup/restore.ts; the run and its cancel signals: lib/ops/restore-run.ts).
 * This file parses, asks and reports.
 * Reference: qubesadmin/tools/qvm_backup_restore.py; spec backup.md §4, §7.
 */
import fs from 'node:fs';
import { checkPassphrase, passphraseFromFile } from '../backup/passphrase.js';
import { planFacts, planSummary, type PlanEntry } from '../backup/restore-plan.js';
import type { Progress } from '../util/progress.js';
import { exitBySignal } from '../backup/run-control.js';
import { dom0Home } from '../config.js';
import { BackupCancelledError, BackupError, QubesError } from '../errors.js';
import { restoreRun } from '../ops/restore-run.js';
import { UsageError } from './common/errors.js';
import { stderrProgress } from './common/progress.js';
import { readSecret } from './common/prompt.js';
import { FORMAT_OPTION, wantsJson, writeJson } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qvm-backup-restore',
  summary: 'restore qubes from a backup',
  args: [
    { name: 'backup_location', description: "backup file, or '-' for standard input", kind: 'file' },
    { name: 'VMNAME', description: 'restore only these qubes (default: all in the backup)', kind: 'text', variadic: true },
  ],
  options: [
    { flags: '--verify-only', description: 'verify the backup (every chunk authenticated, every archive complete) without restoring anything' },
    { flags: '--skip-broken', description: 'do not restore qubes whose template or netvm is missing' },
    { flags: '--ignore-missing', description: "restore qubes whose template or netvm is missing, with the host's defaults" },
    { flags: '--skip-conflicting', description: 'do not restore qubes whose name exists on the host' },
    { flags: '--rename-conflicting', description: 'restore qubes whose name exists on the host as NAME-1, NAME-2, ...' },
    { flags: '-x, --exclude <VMNAME>', description: 'do not restore this qube (repeatable)', kind: 'text', repeatable: true },
    { flags: '--skip-dom0-home', description: "do not restore dom0's home directory" },
    { flags: '--ignore-username-mismatch', description: "restore dom0's home even when the user names differ" },
    { flags: '--ignore-size-limit', description: 'accepted for compatibility: size limits apply only to restores from a qube' },
    { flags: '-Z, --compression-filter <PROG>', description: 'decompress with PROG -d whatever the header says (bypasses the filter whitelist)', kind: 'text' },
    { flags: '-d, --dest-vm <VMNAME>', description: 'qube holding the backup (only dom0, the default, is supported here)', kind: 'vm' },
    { flags: '-p, --passphrase-file <FILE>', description: "read the passphrase from the first line of FILE ('-': standard input); no confirmation is asked then", kind: 'file' },
    { flags: '--location-is-service', description: 'the location is a qrexec service of the --dest-vm qube (needs qrexec: not available in this build)' },
    { flags: '--paranoid-mode, --plan-b', description: 'restore inside a disposable qube (not available in this build)' },
    { flags: '--auto-close', description: "with --paranoid-mode: close the restore window and print the restore's log on standard output; nothing without it, as in the reference" },
    {
      ...FORMAT_OPTION,
      description: 'text (the default: the summary table) or json: the plan and the result as one JSON document once the run ends, the question on standard error; keys as in JSON OUTPUT',
    },
  ],
};

interface Opts {
  format?: string;
  verifyOnly?: boolean;
  skipBroken?: boolean;
  ignoreMissing?: boolean;
  skipConflicting?: boolean;
  renameConflicting?: boolean;
  exclude?: string[];
  skipDom0Home?: boolean;
  ignoreUsernameMismatch?: boolean;
  ignoreSizeLimit?: boolean;
  compressionFilter?: string;
  destVm?: string;
  passphraseFile?: string;
  /** --paranoid-mode: commander names an option with two long flags after the last one. */
  planB?: boolean;
  locationIsService?: boolean;
  /** Only shapes paranoid mode's output in the reference; accepted so scripts written for it run. */
  autoClose?: boolean;
}

/**
 * The archive as a stream: a file (a pipe or a block device too), or
 * standard input for '-'. A character device (a terminal too) or a socket
 * is refused: it is never a backup, and /dev/zero or /dev/urandom would
 * never end.
 */
function openInput(location: string, ctx: Context): AsyncIterable<Buffer> {
  if (location === '-') {
    if (fs.fstatSync(0).isCharacterDevice()) throw new BackupError('Standard input is a terminal or a character device, not a backup; give a file, or redirect standard input');
    return ctx.session.streams.stdin() as AsyncIterable<Buffer>;
  }
  const st = fs.statSync(location, { throwIfNoEntry: false });
  if (!st) throw new BackupError(`Backup file ${location} does not exist`);
  if (st.isDirectory()) {
    if (fs.existsSync(`${location}/qubes.xml`)) throw new BackupError('Backup format version 1 not supported');
    throw new BackupError(`${location} is a directory, not a backup file`);
  }
  if (st.isCharacterDevice() || st.isSocket()) throw new BackupError(`${location} is a ${st.isSocket() ? 'socket' : 'character device'}, not a backup file`);
  return fs.createReadStream(location, { highWaterMark: 1024 * 1024 });
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const [location, ...vms] = args as [string, ...string[]];
  const fromQube = opts.destVm !== undefined && opts.destVm !== 'dom0';
  // The reference's order of checks: the qube's name, then the options.
  if (fromQube && !ctx.store().read().domains.get(opts.destVm as string)) throw new UsageError(`no such domain: '${opts.destVm}'`);
  if (opts.locationIsService && opts.destVm === undefined) throw new UsageError('--location-is-service option requires -d');
  if (opts.planB) throw new QubesError('--paranoid-mode needs disposable qubes and qrexec, which this build does not have');
  if (opts.locationIsService) throw new QubesError('--location-is-service needs qrexec, which this build does not have');
  if (fromQube) {
    throw new QubesError('Reading a backup from a qube needs qrexec (qubes.Restore), which this build does not have; copy it to dom0 first');
  }
  if (location === '-' && opts.passphraseFile === '-') throw new UsageError('the backup and the passphrase cannot both come from standard input');
  if (location === '-' && opts.passphraseFile === undefined) throw new UsageError('--passphrase-file is required when the backup is read from standard input');
  const input = openInput(location, ctx);
  const passphrase =
    opts.passphraseFile !== undefined
      ? passphraseFromFile(opts.passphraseFile)
      : checkPassphrase(readSecret(ctx.session.streams, 'Please enter the passphrase to verify and (if encrypted) decrypt the backup: '));
  const quiet = ctx.verbose < 0;
  const { home, user } = dom0Home(ctx.env);
  const json = wantsJson(opts);
  let plan: readonly PlanEntry[] = [];
  let progress: Progress | undefined;
  try {
    const result = await restoreRun({
      input,
      passphrase,
      store: ctx.store(),
      env: ctx.env,
      forcedFilter: opts.compressionFilter,
      verifyOnly: Boolean(opts.verifyOnly),
      plan: {
        exclude: opts.exclude ?? [],
        only: vms,
        renameConflicting: Boolean(opts.renameConflicting),
        useDefaults: Boolean(opts.ignoreMissing),
        restoreHome: !opts.skipDom0Home,
        ignoreUsernameMismatch: Boolean(opts.ignoreUsernameMismatch),
        hostUser: user,
      },
      skipBroken: Boolean(opts.skipBroken),
      skipConflicting: Boolean(opts.skipConflicting),
      log: (logger, msg) => {
        if (quiet) return;
        if (progress && ctx.session.streams.stderrIsTTY()) ctx.err('\r\x1b[K');
        ctx.err(`${logger}: ${msg}\n`);
      },
      summary: (entries) => {
        plan = entries;
        if (!json) ctx.out(`The following VMs are included in the backup:\n\n${planSummary(entries)}\n`);
      },
      confirm: () => {
        if (opts.passphraseFile !== undefined) return true;
        // standard output carries only the JSON document
        (json ? ctx.err : ctx.out)('Do you want to proceed? [y/N] ');
        return /^y$/i.test(ctx.session.streams.readLine().trim());
      },
      progress: (done, total) => {
        progress ??= stderrProgress(ctx, opts.verifyOnly ? 'Verifying...' : 'Restoring...', total);
        progress.update(done);
      },
      home,
    });
    progress?.finish(true);
    if (json) {
      const { restored, verified, declined, warnings } = result;
      writeJson(ctx, { verify_only: Boolean(opts.verifyOnly), qubes: planFacts(plan).map((q) => ({ ...q })), declined, restored, verified, warnings });
    }
    return 0;
  } catch (e) {
    progress?.finish(false);
    if (location === '-') ctx.session.streams.stdin().destroy();
    if (e instanceof BackupCancelledError) {
      ctx.err(`${ctx.prog}: error: ${opts.verifyOnly ? 'Verification' : 'Restore'} cancelled; nothing was restored\n`);
      exitBySignal(e.signal);
    }
    throw e;
  }
}
