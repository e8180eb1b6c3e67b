// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Process-level controls shared by qvm-backup and qvm-backup-restore:
 * SIGINT/SIGTERM turned into a clean cancel (the work sees an aborted
 * signal, removes what it made, and the tool exits 130/143), and the test
 * hook that lowers the scrypt cost.
 */
import { QubesValueError } from '../errors.js';
import { WRITE_PARAMS, type KdfParams } from './scrypt-container.js';

/** Abort `controller` on SIGINT/SIGTERM (reason = the signal name); returns the uninstaller. A second signal exits at once. */
export function onCancelSignals(controller: AbortController): () => void {
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    controller.abort(sig);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * KDF parameters for writing: the default, or `QUBES_BACKUP_SCRYPT_LOGN`
 * (10..20), a hook that lets tests avoid ~3 s of key derivation per chunk.
 */
export function scryptParamsFromEnv(env: NodeJS.ProcessEnv): KdfParams {
  const raw = env.QUBES_BACKUP_SCRYPT_LOGN;
  if (raw === undefined || raw === '') return WRITE_PARAMS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 20) throw new QubesValueError(`QUBES_BACKUP_SCRYPT_LOGN must be 10..20, not ${raw}`);
  return { ...WRITE_PARAMS, logN: n };
}
