// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A backup run (qvm-backup, later the daemon's backup method): which qubes
 * a profile selects, what of them goes in (volumes asked from their pools,
 * firewall, notes, dom0's home) with the summary the user confirms, the
 * writing under SIGINT/SIGTERM with progress (key derivations in a process
 * of their own, kdf-process.ts), and on success each included qube's
 * backup_timestamp. The command parses, asks and reports.
 *
 * Reference: qubes-core-admin: qubes/backup.py Backup (get_files_to_backup,
 * backup_do); spec backup.md §2, §6, §8.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { newBackupId } from '../backup/backup-header.js';
import { backupQubesXml, collectContent, summaryTable, type QubeContent } from '../backup/backup-content.js';
import { writeBackup } from '../backup/backup-writer.js';
import type { Progress } from '../util/progress.js';
import { onCancelSignals } from '../backup/run-control.js';
import { withKdfProcess } from '../backup/kdf-process.js';
import type { KdfParams } from '../backup/scrypt-container.js';
import type { Sink } from '../backup/sink.js';
import type { Env } from '../config.js';
import { BackupCancelledError, BackupError, QubesVMNotFoundError } from '../errors.js';
import { storageContext } from '../storage/pools.js';
import { PoolSet } from '../storage/qube-storage.js';
import type { QubesVM } from '../vm/qubes-vm.js';

/**
 * The qubes of a backup: `include` (null: every qube with
 * include_in_backups) minus `exclude`, dom0 (its home) last.
 * @throws QubesVMNotFoundError for an excluded name that is no qube; BackupError when none is left
 */
export function selectBackupQubes(app: Qubes, include: QubesVM[] | null, exclude: string[]): QubesVM[] {
  const excluded = new Set(exclude);
  for (const x of excluded) if (!app.domains.get(x)) throw new QubesVMNotFoundError(x);
  const picked = include ?? app.domains.sorted().filter((vm) => vm.get('include_in_backups') === true);
  const out = picked.filter((vm) => !excluded.has(vm.name));
  if (out.length === 0) throw new BackupError('No qubes selected for the backup');
  return [...out.filter((v) => v.klass !== 'AdminVM'), ...out.filter((v) => v.klass === 'AdminVM')];
}

export interface BackupPlan {
  content: QubeContent[];
  /** Names of the qubes included, whose backup_timestamp a finished backup sets. */
  chosen: Set<string>;
  /** The table the user confirms: what goes in, its sizes, the qubes left out, running ones marked. */
  summary: string;
}

/** What goes into the backup of `selected` (their power states asked once, for the summary). */
export async function planBackup(app: Qubes, selected: QubesVM[], env: NodeJS.ProcessEnv): Promise<BackupPlan> {
  await app.vmm.refresh(selected.filter((v) => v.klass !== 'AdminVM'));
  const running = (vm: QubesVM) => vm.klass !== 'AdminVM' && app.vmm.info(vm).state !== 'Halted';
  const content = await collectContent(app, new PoolSet(app, storageContext(env)), selected, env);
  const chosen = new Set(selected.map((v) => v.name));
  const summary = summaryTable(content, app.domains.all().filter((v) => !chosen.has(v.name)).map((v) => v.name), running);
  return { content, chosen, summary };
}

export interface BackupWrite {
  passphrase: string;
  /** A filter program, or null for none. */
  compression: string | null;
  /** Opened once the store's copy for the backup is made (a failure before leaves no file). */
  openSink: () => Sink;
  progress: Progress;
  kdf: KdfParams;
  /** The command's environment, for the key derivation process (kdf-process.ts). */
  env: Env;
  chunkSize?: number;
  /** After an error or a cancel, keep the partly written file as NAME.partial. */
  keepPartial: boolean;
  /** Cancels the run (qubesd's admin.backup.Cancel); without it, this process's SIGINT and SIGTERM do. */
  signal?: AbortSignal;
}

/** How a run that did not finish ended. */
export interface BackupCancelled {
  cancelled: BackupCancelledError;
  /** Where the partial backup was kept, if it was. */
  kept?: string;
}

/**
 * Write the planned backup into the sink `o.openSink` opens; `o.signal`, or else SIGINT or SIGTERM, cancels it.
 * On success, stamps the included qubes; on a cancel, returns what became of
 * the partial file (removed, or kept); other failures are thrown after the
 * partial file is dealt with.
 */
export async function writeBackupRun(store: Store, plan: BackupPlan, o: BackupWrite): Promise<BackupCancelled | undefined> {
  const qubesXml = backupQubesXml(store.read(), plan.content);
  const sink = o.openSink();
  const controller = new AbortController();
  // a daemon's signals are its own: a run it makes is cancelled by its caller only
  const stopSignals = o.signal ? () => {} : onCancelSignals(controller);
  try {
    await withKdfProcess(o.env, () =>
      writeBackup({
        passphrase: o.passphrase,
        compression: o.compression,
        backupId: newBackupId(),
        qubesXml,
        content: plan.content,
        sink,
        signal: o.signal ?? controller.signal,
        onProgress: (n) => o.progress.update(n),
        kdf: o.kdf,
        chunkSize: o.chunkSize,
        keepPartial: o.keepPartial,
      }),
    );
    await sink.finish();
    o.progress.finish(true);
  } catch (e) {
    o.progress.finish(false);
    const kept = sink.abort(o.keepPartial);
    if (e instanceof BackupCancelledError) return { cancelled: e, kept };
    throw e;
  } finally {
    stopSignals();
  }
  const stamp = String(Math.floor(Date.now() / 1000));
  await store.update((a) => {
    for (const name of plan.chosen) {
      const vm = a.domains.get(name);
      if (vm?.has('backup_timestamp')) vm.set('backup_timestamp', stamp);
    }
  });
  return undefined;
}
