// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backups from the profiles in /etc/qubes/backup (QUBES_BACKUP_PROFILE_DIR):
 * Info (the summary table of what the profile backs up), Execute (the
 * backup itself, until it is done; one run per profile at a time) and
 * Cancel (of a running Execute, which then fails as BackupCancelledError),
 * over lib/ops/backup-run.ts as qvm-backup.
 *
 * The profile's `include` and `exclude` name qubes, `@tag:TAG` or
 * `@type:CLASS`; names of no qube match nothing (no error), as in the
 * reference. A passphrase from a qube (`passphrase_vm`) and a destination
 * qube need qrexec, which this suite does not have: refused in one line.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (_load_backup_profile,
 * backup_execute, backup_cancel, backup_info), qubes/utils.py
 * (match_vm_name_with_special).
 */
import fs from 'node:fs';
import type { Qubes } from '../../app/app.js';
import { dom0Home } from '../../config.js';
import { backupTarget } from '../../backup/destination.js';
import { loadProfile, profilePath, type BackupProfile } from '../../backup/profile.js';
import { Progress } from '../../util/progress.js';
import { scryptParamsFromEnv } from '../../backup/run-control.js';
import { Sink } from '../../backup/sink.js';
import { BackupAlreadyRunningError, BackupCancelledError, BackupError, ProtocolError, QubesBackupProfileNotFoundError, QubesError } from '../../errors.js';
import { planBackup, writeBackupRun, type BackupPlan } from '../../ops/backup-run.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { method, type Call, type MethodDecl } from '../method.js';

/** `@tag:TAG`, `@type:CLASS` or a qube's name. */
function matchesName(vm: QubesVM, name: string): boolean {
  if (name.startsWith('@tag:')) return vm.tags.has(name.slice(5));
  if (name.startsWith('@type:')) return vm.klass === name.slice(6);
  return vm.name === name;
}

/** Old profiles wrote `$tag:` for `@tag:`. */
const keyword = (names: string[]) => names.map((n) => n.replace(/\$/g, '@'));

/** The profile's qubes: `include` (null: those with include_in_backups) minus `exclude`; dom0 last, as qvm-backup. */
function selection(app: Qubes, p: BackupProfile): QubesVM[] {
  const include = p.include === null ? null : keyword(p.include);
  const exclude = keyword(p.exclude ?? []);
  const picked = app.domains
    .sorted()
    .filter((vm) => (include === null ? vm.get('include_in_backups') === true : include.some((n) => matchesName(vm, n))))
    .filter((vm) => !exclude.some((n) => matchesName(vm, n)));
  return [...picked.filter((v) => v.klass !== 'AdminVM'), ...picked.filter((v) => v.klass === 'AdminVM')];
}

/** The profile named by the argument, checked as the reference loads it. */
function profileOf(call: Call): BackupProfile {
  if (call.arg.includes('/')) throw new ProtocolError('Backup profile ID must not contain forward slash character');
  const env = call.services.env;
  let file: string;
  try {
    file = profilePath(call.arg, env);
  } catch {
    file = '';
  }
  if (!file || !fs.existsSync(file)) throw new QubesBackupProfileNotFoundError(`Backup profile does not exist: ${call.arg}`);
  const p = loadProfile(call.arg, env);
  const dest = call.app.domains.get(p.destination_vm);
  if (!dest) throw new QubesError('Invalid destination_vm specified in backup profile');
  if (dest.klass !== 'AdminVM') throw new QubesError('Writing a backup to a qube needs qrexec (qubes.Backup), which this build does not have; write to a path in dom0');
  return p;
}

interface Planned {
  plan: BackupPlan;
  /** The archive's file (a directory location gets a qubes-DATE file in it). */
  target: string;
}

async function plan(call: Call, p: BackupProfile): Promise<Planned> {
  const selected = selection(call.app, p);
  if (selected.length === 0) throw new BackupError('No qubes selected for the backup');
  const env = call.services.env;
  const home = selected.some((v) => v.klass === 'AdminVM') ? dom0Home(env).home : undefined;
  if (p.destination_path === '-') throw new QubesError('A backup profile of the daemon cannot write to standard output');
  const target = backupTarget(p.destination_path, '/', home);
  return { plan: await planBackup(call.app, selected, env), target };
}

/** The profile's compression: true is gzip, false none, else the program named. */
const compressionOf = (p: BackupProfile): string | null => (p.compression === false ? null : p.compression === true ? 'gzip' : p.compression);

/** Runs of admin.backup.Execute by profile, for Cancel; they last as long as this daemon. */
const running = new Map<string, AbortController>();

async function execute(call: Call): Promise<void> {
  const p = profileOf(call);
  if (p.passphrase_text === undefined) throw new QubesError('Invalid backup profile - you need to specify passphrase_text or passphrase_vm');
  if (running.has(call.arg)) throw new BackupAlreadyRunningError('Backup already running');
  const controller = new AbortController();
  running.set(call.arg, controller);
  try {
    const { plan: thePlan, target } = await plan(call, p);
    const ended = await writeBackupRun(call.services.store, thePlan, {
      passphrase: p.passphrase_text,
      compression: compressionOf(p),
      openSink: () => Sink.toFile(target),
      progress: new Progress('', 0, { write: () => {}, isTTY: false }, true),
      kdf: scryptParamsFromEnv(call.services.env),
      env: call.services.env,
      keepPartial: false,
      signal: controller.signal,
    });
    if (ended) throw new BackupCancelledError('Backup cancelled');
  } finally {
    running.delete(call.arg);
  }
}

function cancel(call: Call): void {
  if (call.arg.includes('/')) throw new ProtocolError('Backup profile ID must not contain forward slash character');
  const run = running.get(call.arg);
  if (!run) throw new QubesError('Backup operation not running');
  run.abort();
}

const profile = { destAdminvm: true, wantsArg: true, wantsPayload: false } as const;

export const BACKUP_METHODS: MethodDecl[] = [
  method('admin.backup.Execute', { ...profile, scope: 'global', read: true, execute: true }, execute),
  method('admin.backup.Cancel', { ...profile, scope: 'global', execute: true }, cancel),
  method('admin.backup.Info', { ...profile, scope: 'local' }, async (call) => (await plan(call, profileOf(call))).plan.summary),
];
