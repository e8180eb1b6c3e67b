// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One lock per qube around the steps that must not interleave between
 * processes: a start (from its look at the stopped domain until the new
 * domain runs) and the handling of a stop (commit of the volumes, QubesDB
 * daemon, start time, auto-cleaned disposable). qubesd hears a stop at
 * once while a one-shot command (`qvm-shutdown --wait`, `qvm-kill`, any
 * command's reconcile) may handle the same stop; under this lock whoever
 * comes second sees that the volumes no longer run, and does nothing: one
 * commit per stop. And a stop handled late never commits the volumes of a
 * qube started again meanwhile: the start holds the lock until its domain
 * runs, and the handling looks at the domain under it.
 *
 * The lock is the store lock's mechanism (lib/app/store-lock.ts: a lock
 * directory recording the holder's pid and process start time, so that a
 * killed holder's lock is taken over at once) on
 * `<runDir>/qube-locks/<name>.lock` (lockStore adds `.lock` to
 * `qubeLockPath`); the run directory is a tmpfs, so a
 * reboot leaves none. It excludes within one process too: the daemon
 * handles one qube's stop once at a time.
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (_domain_stopped_lock,
 * _ensure_shutdown_handled: qubesd's in-process equivalent).
 */
import fs from 'node:fs';
import path from 'node:path';
import { lockTimeoutMs, runDir, type Env } from '../config.js';
import { QubesError, StoreLockError } from '../errors.js';
import { ioReason } from '../util/io-error.js';

/** The path whose lock (`<path>.lock`, lockStore's) is qube `name`'s; qube names are file-name safe (no `/`, no leading dot). */
export const qubeLockPath = (env: Env, name: string): string => path.join(runDir(env), 'qube-locks', name);

/**
 * Run `work` holding the lock of qube `name`, waiting for another holder
 * up to QUBES_LOCK_TIMEOUT_MS.
 * @throws QubesError when the lock cannot be had; what `work` throws
 */
export async function withQubeLock<T>(env: Env, name: string, work: () => Promise<T>): Promise<T> {
  const file = qubeLockPath(env, name);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o775 });
  } catch (e) {
    throw new QubesError(`Cannot lock qube ${name}: ${ioReason(e)}`);
  }
  // loaded on first use, as the store does: a command that neither starts nor stops a qube never loads the lock code
  const { lockStore } = await import('../app/store-lock.js');
  let release;
  try {
    release = await lockStore(file, lockTimeoutMs(env));
  } catch (e) {
    if (e instanceof StoreLockError) throw new QubesError(`Qube ${name} is being started or stopped by another command: ${e.message}`);
    throw e;
  }
  try {
    return await work();
  } finally {
    await release();
  }
}
