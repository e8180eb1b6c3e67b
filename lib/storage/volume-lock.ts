// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One lock per volume, held by the command working on that volume's data
 * (create, remove, start, stop, import, clone into it, resize, revert).
 * It is what tells a leftover of a killed command from the work of a live
 * one: a command that takes a volume's lock anew knows that nobody else is
 * working on that volume, so every import target or temporary copy it
 * finds then was left by a dead command and is removed before its own
 * operation starts (StoragePool.recoverLeftovers). A leftover therefore
 * never blocks the next operation, and a live operation's files are never
 * taken for leftovers.
 *
 * The lock is the store lock's mechanism (lib/app/store-lock.ts: a lock
 * directory recording the holder's pid and process start time, so that a
 * killed holder's lock is taken over at once), on
 * `<runDir>/volume-locks/<pool:vid escaped>.lock`. The run directory is a
 * tmpfs: after a reboot no lock is left, as no operation runs.
 *
 * Within one process the lock is counted, not exclusive: an import holds it
 * from importData to importDataEnd while the same command may touch the
 * volume again (a start refused because an import is in progress), and
 * commands do one operation on a volume at a time. Only the first taking
 * in a process recovers leftovers. Serialising work inside one process is
 * the drivers' business (lvm queues per volume).
 */
import path from 'node:path';
import fs from 'node:fs';
import type { Release } from '../app/store-lock.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../config.js';
import { StoragePoolError, StoreLockError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { volumeFileName } from './running-marker.js';

export interface VolumeLock {
  /** Give this hold back (the lock goes when the last hold of the process goes); idempotent. */
  release(): Promise<void>;
}

/** Where the locks live and how long to wait for one held by another command. */
export interface VolumeLockPlace {
  runDir: string;
  lockTimeoutMs?: number;
}

const held = new Map<string, { count: number; taken: Promise<Release> }>();

async function take(file: string, what: string, timeoutMs: number): Promise<Release> {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o775 });
  } catch (e) {
    throw new StoragePoolError(`Cannot lock volume ${what}: ${ioReason(e)}`);
  }
  // loaded on first use, as the store does: commands that only read never lock
  const { lockStore } = await import('../app/store-lock.js');
  try {
    return await lockStore(file, timeoutMs);
  } catch (e) {
    if (!(e instanceof StoreLockError)) throw e;
    // still there after the wait: a live command holds it; else the lock could not be made at all
    if (fs.existsSync(`${file}.lock`)) throw new StoragePoolError(`Volume ${what} is in use by another command: ${e.message}`);
    throw new StoragePoolError(`Cannot lock volume ${what}: ${e.message}`);
  }
}

/**
 * Take the lock of volume `vid` of pool `pool`, waiting for another command
 * that holds it (up to the store lock's timeout). When this process takes
 * it anew, `recover` runs first (nobody else works on the volume then: what
 * it finds is a dead command's), before this and any other hold of the
 * process goes on, in the order they asked.
 * @throws StoragePoolError when it cannot be had, or what `recover` throws
 */
export async function lockVolume(place: VolumeLockPlace, pool: string, vid: string, recover?: () => Promise<void>): Promise<VolumeLock> {
  const file = path.join(place.runDir, 'volume-locks', volumeFileName(pool, vid));
  let h = held.get(file);
  if (!h) {
    const taken = take(file, `${pool}:${vid}`, place.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS).then(async (release) => {
      try {
        await recover?.();
      } catch (e) {
        await release();
        throw e;
      }
      return release;
    });
    h = { count: 0, taken };
    held.set(file, h);
  }
  const hold = h;
  hold.count++;
  let release: Release;
  try {
    release = await hold.taken;
  } catch (e) {
    if (--hold.count === 0 && held.get(file) === hold) held.delete(file);
    throw e;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      if (--hold.count > 0) return;
      held.delete(file);
      await release();
    },
  };
}
