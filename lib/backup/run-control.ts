// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Process-level controls shared by qvm-backup and qvm-backup-restore:
 * SIGINT/SIGTERM turned into a clean cancel (the work sees an aborted
 * signal, removes what it made, and the tool exits 130/143), and the test
 * hook that lowers the scrypt cost.
 */
import { backupScryptLogN, type Env } from '../config.js';
import { BackupCancelledError, QubesValueError } from '../errors.js';
import { WRITE_PARAMS, type KdfParams } from './scrypt-container.js';

/**
 * End the process for a cancel at once, as the signal would have: the
 * handlers are removed and the signal raised again (the shell sees status
 * 130 / 143 and stops a script). process.exit would wait for a key
 * derivation still running on the thread pool, seconds.
 */
export function exitBySignal(signal: 'SIGINT' | 'SIGTERM'): never {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // not reached unless the signal is ignored by our parent's setup
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

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
export function scryptParamsFromEnv(env: Env): KdfParams {
  const raw = backupScryptLogN(env);
  if (raw === undefined || raw === '') return WRITE_PARAMS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 20) throw new QubesValueError(`QUBES_BACKUP_SCRYPT_LOGN must be 10..20, not ${raw}`);
  return { ...WRITE_PARAMS, logN: n };
}

/** The cancel error for an aborted signal (its reason is the signal name). */
export const cancelError = (signal: AbortSignal, what: string): BackupCancelledError =>
  new BackupCancelledError(`${what} cancelled`, signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');

/**
 * `p`, or a cancel error as soon as `signal` aborts (a key derivation
 * cannot be stopped; its result is then ignored).
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(cancelError(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
