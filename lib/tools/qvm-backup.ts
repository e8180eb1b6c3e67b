// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-backup: write a format-4 backup of qubes (and dom0's home) to a file
 * or standard output, without qubesd: the options and profiles, the
 * summary, confirmation and passphrase, the progress and the messages; the
 * run itself (selection, content, writing, backup_timestamp) is
 * lib/ops/backup-run.ts.
 * Reference: qubesadmin/tools/qvm_backup.py, qubes-core-admin:
 * qubes/backup.py; spec backup.md §2, §6, §8.
 */
import { backupTarget } from '../backup/destination.js';
import { checkPassphrase, passphraseFromFile } from '../backup/passphrase.js';
import { loadProfile, saveProfile, type BackupProfile } from '../backup/profile.js';
import { exitBySignal, scryptParamsFromEnv } from '../backup/run-control.js';
import { chunkSizeFor, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../backup/backup-writer.js';
import { Sink } from '../backup/sink.js';
import { backupChunkSize, dom0Home, type Env } from '../config.js';
import { BackupError, QubesError } from '../errors.js';
import { planBackup, selectBackupQubes, writeBackupRun } from '../ops/backup-run.js';
import { parseSize } from '../storage/sizes.js';
import { UsageError } from './common/errors.js';
import { stderrProgress } from './common/progress.js';
import { readSecret } from './common/prompt.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVms } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-backup',
  summary: 'create a backup of qubes',
  args: [
    { name: 'backup_location', description: "directory (a new file qubes-YYYY-MM-DDTHHMMSS inside), file path, or '-' for standard output", kind: 'file', optional: true },
    { name: 'VMNAME', description: 'qubes to back up (default: every qube with include_in_backups, dom0 meaning its home)', kind: 'vm', variadic: true },
  ],
  options: [
    { flags: '--profile <NAME>', description: 'perform the backup described by profile NAME (/etc/qubes/backup/NAME.conf)', kind: 'text' },
    { flags: '--save-profile <NAME>', description: 'save the options as profile NAME, then back up', kind: 'text' },
    { flags: '-x, --exclude <VMNAME>', description: 'exclude a qube from the backup (repeatable)', kind: 'vm', repeatable: true },
    { flags: '-d, --dest-vm <VMNAME>', description: 'qube to write the backup to (only dom0, the default, is supported here)', kind: 'vm' },
    { flags: '-e, --encrypt', description: 'accepted for compatibility: backups are always encrypted' },
    { flags: '-p, --passphrase-file <FILE>', description: "read the passphrase from the first line of FILE ('-': standard input)", kind: 'file' },
    { flags: '-z, --compress', description: 'compress the backup (the default)' },
    { flags: '--no-compress', description: 'do not compress the backup' },
    { flags: '-Z, --compress-filter <PROG>', description: 'compress with PROG (restore accepts gzip, bzip2, xz, and if installed lzma, pbzip2, pigz, zstd, zstdmt)', kind: 'text' },
    { flags: '-y, --yes', description: 'do not ask for confirmation' },
    { flags: '--chunk-size <SIZE>', description: 'bytes of compressed data per encrypted chunk, each costing one key derivation (100MiB to 4GiB; default 1028MiB to a file (a 1 GiB volume and its framing), 100MiB to standard output, the most allowed there)', kind: 'text' },
    { flags: '--keep-partial', description: 'keep a partly written backup file after an error or a cancel, as NAME.partial (default: remove it)' },
  ],
};

interface Opts {
  profile?: string;
  saveProfile?: string;
  exclude?: string[];
  destVm?: string;
  encrypt?: boolean;
  passphraseFile?: string;
  /** false with --no-compress (commander's negation of --compress). */
  compress?: boolean;
  compressFilter?: string;
  yes?: boolean;
  keepPartial?: boolean;
  chunkSize?: string;
}

/** --chunk-size, within what the restores of this build and the reference's take; else the test hook QUBES_BACKUP_CHUNK_SIZE (any size). */
function chunkSizeOption(opts: Opts, env: Env): number | undefined {
  if (opts.chunkSize === undefined) return backupChunkSize(env);
  let n: number;
  try {
    n = parseSize(opts.chunkSize);
  } catch (e) {
    throw new UsageError(`--chunk-size: ${(e as Error).message}`);
  }
  if (n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE) throw new UsageError(`--chunk-size must be 100MiB to 4GiB, not ${opts.chunkSize}`);
  return n;
}

/** The profile the options describe (what the reference writes to backup-run-PID.conf). */
function profileFromOptions(opts: Opts, args: string[]): BackupProfile {
  const [location, ...vms] = args;
  if (location === undefined) throw new UsageError("either --profile or 'backup_location' is required");
  return {
    compression: opts.compressFilter ?? (opts.compress === false ? false : true),
    destination_path: location,
    destination_vm: opts.destVm ?? 'dom0',
    exclude: opts.exclude?.length ? opts.exclude : undefined,
    include: vms.length ? vms : null,
    passphrase_text: undefined,
  };
}

function checkProfileConflicts(opts: Opts, args: string[]): void {
  const clash: [keyof Opts, string][] = [
    ['exclude', 'exclude-list'],
    ['passphraseFile', 'passphrase-file'],
    ['compressFilter', 'compression'],
    ['compress', 'compression'],
    ['saveProfile', 'save-profile'],
  ];
  for (const [k, attr] of clash) if (opts[k] !== undefined) throw new UsageError(`--${attr} option could not be used together with --profile`);
  if (args.length) throw new UsageError('backup_location and qube names cannot be used together with --profile');
}

function askPassphrase(ctx: Context): string {
  const a = readSecret(ctx.session.streams, 'Please enter the passphrase that will be used to encrypt and verify the backup: ');
  const b = readSecret(ctx.session.streams, 'Enter again for verification: ');
  if (a !== b) throw new BackupError('Passphrase mismatch!');
  return checkPassphrase(a);
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const chunkSize = chunkSizeOption(opts, ctx.env);
  let profile: BackupProfile;
  if (opts.profile !== undefined) {
    checkProfileConflicts(opts, args);
    profile = loadProfile(opts.profile, ctx.env);
  } else profile = profileFromOptions(opts, args);
  if (profile.destination_vm !== 'dom0') {
    const app = ctx.store().read();
    if (!app.domains.get(profile.destination_vm)) throw new UsageError(`no such domain: '${profile.destination_vm}'`);
    throw new QubesError('Writing a backup to a qube needs qrexec (qubes.Backup), which this build does not have; write to a path in dom0');
  }
  if (opts.saveProfile !== undefined) saveProfile(opts.saveProfile, profile, ctx.env);

  const app = ctx.store().read();
  const selected = selectBackupQubes(app, profile.include === null ? null : resolveVms(app, { names: profile.include }), profile.exclude ?? []);
  const home = selected.some((v) => v.klass === 'AdminVM') ? dom0Home(ctx.env).home : undefined;
  const target = backupTarget(profile.destination_path, ctx.session.streams.cwd, home);
  const toStdout = target === '-';
  if (toStdout && ctx.stdoutIsTTY()) throw new BackupError('Refusing to write a backup to a terminal; redirect standard output to a file or a pipe');
  chunkSizeFor(chunkSize, !toStdout);
  // the summary and questions must not mix with a backup written to standard output
  const say = toStdout ? ctx.err : ctx.out;

  const plan = await planBackup(app, selected, ctx.env);
  say(plan.summary);

  if (!opts.yes) {
    say('Do you want to proceed? [y/N] ');
    if (!/^y$/i.test(ctx.session.streams.readLine().trim())) return 0;
  }
  const passphrase =
    profile.passphrase_text !== undefined ? checkPassphrase(profile.passphrase_text) : opts.passphraseFile !== undefined ? passphraseFromFile(opts.passphraseFile) : askPassphrase(ctx);
  const compression = profile.compression === false ? null : profile.compression === true ? 'gzip' : profile.compression;

  const total = plan.content.reduce((s, c) => s + c.size, 0);
  const progress = stderrProgress(ctx, 'Making a backup...', total);
  const kdf = scryptParamsFromEnv(ctx.env);
  // a test hook must not weaken a real backup unnoticed
  if (kdf.logN < 20 && ctx.verbose >= 0) ctx.err(`${ctx.prog}: warning: QUBES_BACKUP_SCRYPT_LOGN=${kdf.logN} weakens the passphrase protection of this backup (a test setting)\n`);
  let path: string | undefined;
  const ended = await writeBackupRun(ctx.store(), plan, {
    passphrase,
    compression,
    openSink: () => {
      const sink = toStdout ? Sink.toStdout(ctx.session.streams.stdout()) : Sink.toFile(target);
      path = sink.path;
      return sink;
    },
    progress,
    kdf,
    env: ctx.env,
    chunkSize,
    keepPartial: Boolean(opts.keepPartial),
  });
  if (ended) {
    const { cancelled, kept } = ended;
    ctx.err(`${ctx.prog}: error: Backup cancelled${kept ? `; the partial backup was kept as ${kept}` : path ? '; the partial backup file was removed' : ''}\n`);
    exitBySignal(cancelled.signal);
  }
  if (!toStdout && ctx.verbose >= 0) ctx.err(`Backup written to ${target}\n`);
  return 0;
}
