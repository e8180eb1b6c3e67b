// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A backup run, as qvm-backup and qubesd's admin.backup.* make it: the
 * plan (what the selected qubes contribute, where it goes, the summary
 * table shown before the run), then the writing of the archive and the
 * backup_timestamp of each qube backed up.
 *
 * Reference: qubes-core-admin: qubes/backup.py (Backup, get_backup_summary,
 * backup_do); spec backup.md.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { newBackupId } from '../backup/backup-header.js';
import { backupQubesXml, collectContent, dom0Home, summaryTable, type QubeContent } from '../backup/backup-content.js';
import { writeBackup } from '../backup/backup-writer.js';
import { backupTarget } from '../backup/destination.js';
import type { BackupProfile } from '../backup/profile.js';
import type { Sink } from '../backup/sink.js';
import type { KdfParams } from '../backup/scrypt-container.js';
import { BackupError } from '../errors.js';
import { storageContext } from '../storage/pools.js';
import { PoolSet } from '../storage/qube-storage.js';
import type { QubesVM } from '../vm/qubes-vm.js';

export interface BackupPlan {
  selected: QubesVM[];
  content: QubeContent[];
  /** The archive's file, or '-' for standard output. */
  target: string;
  /** The table of what is backed up and what is not, shown before the run. */
  summary: string;
}

/**
 * What a backup of `selected` (in that order) to `location` would write.
 * A relative location is taken from `cwd`.
 * @throws BackupError when nothing is selected or the location is not usable
 */
export async function planBackup(app: Qubes, selected: QubesVM[], location: string, env: NodeJS.ProcessEnv, cwd: string): Promise<BackupPlan> {
  if (selected.length === 0) throw new BackupError('No qubes selected for the backup');
  const home = selected.some((v) => v.klass === 'AdminVM') ? dom0Home(env).home : undefined;
  const target = backupTarget(location, cwd, home);
  await app.vmm.refresh(selected.filter((v) => v.klass !== 'AdminVM'));
  const running = (vm: QubesVM) => vm.klass !== 'AdminVM' && app.vmm.info(vm).state !== 'Halted';
  const content = await collectContent(app, new PoolSet(app, storageContext(env)), selected, env);
  const chosen = new Set(selected.map((v) => v.name));
  const summary = summaryTable(
    content,
    app.domains
      .all()
      .filter((v) => !chosen.has(v.name))
      .map((v) => v.name),
    running,
  );
  return { selected, content, target, summary };
}

/** The compression program of a profile's `compression` (true: gzip; false: none). */
export const compressionOf = (p: BackupProfile): string | null => (p.compression === false ? null : p.compression === true ? 'gzip' : p.compression);

export interface RunOptions {
  passphrase: string;
  compression: string | null;
  sink: Sink;
  signal?: AbortSignal;
  onProgress?: (done: number) => void;
  kdf?: KdfParams;
  chunkSize?: number;
}

/**
 * Write the planned backup into `o.sink` (finished when done; the caller
 * aborts it on failure), then record the time in each backed-up qube's
 * backup_timestamp.
 * @throws BackupCancelledError when `o.signal` aborts, BackupError
 */
export async function runBackup(store: Store, plan: BackupPlan, o: RunOptions): Promise<void> {
  const qubesXml = backupQubesXml(store.read(), plan.content);
  await writeBackup({ ...o, backupId: newBackupId(), qubesXml, content: plan.content });
  await o.sink.finish();
  const stamp = String(Math.floor(Date.now() / 1000));
  const chosen = new Set(plan.selected.map((v) => v.name));
  await store.update((a) => {
    for (const name of chosen) {
      const vm = a.domains.get(name);
      if (vm?.has('backup_timestamp')) vm.set('backup_timestamp', stamp);
    }
  });
}
