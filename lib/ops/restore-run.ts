// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A restore or verify run (qvm-backup-restore, later the daemon's): the
 * restore of lib/backup/restore.ts under SIGINT/SIGTERM, which cancel it
 * cleanly (nothing is added to the host), with the key derivations in a
 * process of their own (kdf-process.ts). While the user is asked to
 * confirm, the signals keep their usual meaning: the answer is read
 * synchronously, and a Ctrl-C then ends the command at once.
 *
 * Reference: qubesadmin/backup/restore.py; spec backup.md §4, §7.
 */
import { restoreBackup, type RestoreOptions, type RestoreResult } from '../backup/restore.js';
import { withKdfProcess } from '../backup/kdf-process.js';
import { onCancelSignals } from '../backup/run-control.js';

/**
 * Restore (or verify) as `o` says; `o.confirm` runs with the cancel
 * handlers removed.
 * @throws BackupCancelledError after a signal, with what was made removed
 */
export async function restoreRun(o: Omit<RestoreOptions, 'signal'>): Promise<RestoreResult> {
  const controller = new AbortController();
  let stopSignals = onCancelSignals(controller);
  try {
    return await withKdfProcess(o.env, () =>
      restoreBackup({
        ...o,
        confirm: () => {
          stopSignals();
          try {
            return o.confirm();
          } finally {
            stopSignals = onCancelSignals(controller);
          }
        },
        signal: controller.signal,
      }),
    );
  } finally {
    stopSignals();
  }
}
