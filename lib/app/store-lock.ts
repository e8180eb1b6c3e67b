// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The writers' lock on qubes.xml: a lock directory (`qubes.xml.lock`,
 * made by mkdir, which exactly one process wins) holding an `owner` file
 * with the holder's pid and process start time.
 *
 * Why the owner file: a lock judged by its age alone makes every writer
 * after a killed one wait that long. With the owner recorded, a lock whose
 * process is gone (or whose pid now
 * belongs to a different process, told apart by start time) is reaped at
 * once. Reaping happens under a second, short-lived mutex
 * (`qubes.xml.lock.reap`) and by renaming the dead lock away, so two waiters
 * can never both remove a lock, nor remove a fresh one.
 *
 * A lock directory without a complete owner file (its holder died between
 * creating it and writing the owner, which a live holder does within
 * microseconds, see tryTake) is reaped once it is older than
 * OWNERLESS_STALE_MS.
 *
 * Why not proper-lockfile, which these tools used first: its lock resolves
 * several event-loop turns after the mkdir, so a SIGTERM handled there (or
 * a kill) left a directory without an owner, and every next writer waited
 * OWNERLESS_STALE_MS; its age-based takeover and mtime refresh are what the
 * owner file replaces.
 *
 * Anything else at the lock's path (a plain file, a symbolic link, a FIFO)
 * is not a lock of ours: it is reported, never removed, whatever its age.
 *
 * Readers take no lock: saves are atomic renames. These locks do not
 * exclude the reference Python tools, which use fcntl; see README.
 *
 * Reference: shared/spec/store-and-core-tools.md §4.2–4.3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StoreLockError } from '../errors.js';
import { fileKind, readInputFile } from '../util/input-file.js';
import { ioReason } from '../util/io-error.js';
import { processAlive, selfIdentity, type ProcessIdentity } from '../util/process-identity.js';

const OWNERLESS_STALE_MS = 10000;
const REAP_MUTEX_STALE_MS = 5000;

type Owner = ProcessIdentity;

/**
 * The recorded owner, or undefined when there is none or it is not complete:
 * an unreadable owner must never look like a dead one.
 */
function readOwner(lockDir: string): Owner | undefined {
  try {
    // Bounded and never blocking: whatever sits in the directory is read as a record of a few bytes or not at all.
    const text = readInputFile(path.join(lockDir, 'owner'), { what: 'a lock owner record', maxBytes: 64 }).toString('latin1');
    const m = /^(\d+) (\d+)\n$/.exec(text);
    return m ? { pid: Number(m[1]), start: m[2] as string } : undefined;
  } catch {
    return undefined;
  }
}

/** Written under a temporary name and renamed, so readers never see half of it. */
function writeOwner(lockDir: string): Owner {
  const tmp = path.join(lockDir, 'owner.tmp');
  const me = selfIdentity();
  fs.writeFileSync(tmp, `${me.pid} ${me.start}\n`);
  fs.renameSync(tmp, path.join(lockDir, 'owner'));
  return me;
}

const sameOwner = (a: Owner | undefined, b: Owner) => a !== undefined && a.pid === b.pid && a.start === b.start;

/**
 * What makes a lock reapable: a recorded owner that is gone, or no complete
 * owner on a lock older than OWNERLESS_STALE_MS. Undefined: leave it alone.
 */
function deadLock(lockDir: string): Owner | 'ownerless' | undefined {
  const owner = readOwner(lockDir);
  if (owner) return processAlive(owner) ? undefined : owner;
  try {
    return Date.now() - fs.statSync(lockDir).mtimeMs > OWNERLESS_STALE_MS ? 'ownerless' : undefined;
  } catch {
    return undefined;
  }
}

const sameDeadLock = (lockDir: string, seen: Owner | 'ownerless') => {
  const now = deadLock(lockDir);
  return seen === 'ownerless' ? now === 'ownerless' : now !== undefined && now !== 'ownerless' && sameOwner(now, seen);
};

/** Remove the lock of a dead holder; true when something was reaped. */
function reapDeadLock(lockDir: string): boolean {
  const dead = deadLock(lockDir);
  if (!dead) return false;
  const mutex = `${lockDir}.reap`;
  try {
    fs.mkdirSync(mutex);
  } catch {
    try {
      if (Date.now() - fs.statSync(mutex).mtimeMs > REAP_MUTEX_STALE_MS) fs.rmdirSync(mutex);
    } catch {
      /* another waiter is on it */
    }
    return false;
  }
  try {
    // Only a reaper (us, under the mutex) removes a lock it judged dead, and
    // a new holder's lock is fresh and owned, so re-checking under the mutex
    // guarantees the directory we rename away is the dead one.
    if (!sameDeadLock(lockDir, dead)) return false;
    const tomb = `${lockDir}.dead-${process.pid}-${Date.now()}`;
    fs.renameSync(lockDir, tomb);
    fs.rmSync(tomb, { recursive: true, force: true });
    return true;
  } finally {
    fs.rmdirSync(mutex);
  }
}

/** `a regular file`, ... when something other than a directory is at `p`; undefined for a directory or nothing. */
function notADirectory(p: string): string | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(p);
  } catch {
    return undefined; // gone meanwhile, or not ours to look at: the lock attempt says the rest
  }
  return st.isDirectory() ? undefined : fileKind(st);
}

/**
 * A lock path holding something these tools never make is somebody
 * else's: say so instead of waiting for it, or deleting it.
 * @throws StoreLockError
 */
function refuseForeignLock(storePath: string, lockPath: string): void {
  const kind = notADirectory(lockPath);
  if (kind)
    throw new StoreLockError(
      `Cannot lock ${storePath}: ${lockPath} is ${kind}, not a lock directory of these tools; remove it if no program uses it`,
    );
}

function describeHolder(lockDir: string): string {
  const o = readOwner(lockDir);
  return o ? `process ${o.pid}` : 'an unknown process';
}

export type Release = () => Promise<void>;

/**
 * Make the lock directory and record ourselves in it, synchronously: no
 * signal handler runs in between, so only SIGKILL (or a crash of the
 * machine) can leave a directory without its owner, and only within the
 * microseconds between two system calls.
 * @returns the owner recorded, or undefined when something is already at the lock's path
 */
function tryTake(storePath: string, lockDir: string): Owner | undefined {
  try {
    fs.mkdirSync(lockDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return undefined;
    if (code === 'ENOENT') throw new StoreLockError(`Cannot lock ${storePath}: directory ${path.dirname(storePath)} does not exist`);
    throw new StoreLockError(`Cannot lock ${storePath}: ${ioReason(e)}`);
  }
  try {
    return writeOwner(lockDir);
  } catch (e) {
    for (const f of ['owner', 'owner.tmp']) fs.rmSync(path.join(lockDir, f), { force: true });
    fs.rmdirSync(lockDir);
    throw new StoreLockError(`Cannot lock ${storePath}: ${ioReason(e)}`);
  }
}

/** Give the lock back; refuses when it is no longer ours (somebody removed or replaced it). */
function giveBack(lockDir: string, me: Owner): void {
  if (!sameOwner(readOwner(lockDir), me)) throw new StoreLockError(`Lost the lock ${lockDir}: it was removed or taken over while this command held it`);
  fs.rmSync(path.join(lockDir, 'owner'), { force: true });
  fs.rmdirSync(lockDir);
}

/**
 * Take the exclusive writers' lock, waiting up to `timeoutMs`.
 * @throws StoreLockError naming the holder and the lock directory
 */
export async function lockStore(storePath: string, timeoutMs: number): Promise<Release> {
  const lockDir = `${storePath}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const me = tryTake(storePath, lockDir);
    if (me) {
      return async () => giveBack(lockDir, me);
    }
    refuseForeignLock(storePath, lockDir);
    refuseForeignLock(storePath, `${lockDir}.reap`);
    if (reapDeadLock(lockDir)) continue;
    if (Date.now() >= deadline)
      throw new StoreLockError(
        `Timed out waiting for the lock on ${storePath}: held by ${describeHolder(lockDir)} (lock directory ${lockDir})`,
      );
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}
