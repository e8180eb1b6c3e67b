// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A session's storage: the storage context of its environment and one
 * PoolSet per loaded store, each driver opened once for the command. Apart
 * from session.ts so that commands that never touch storage do not carry
 * its code (and the drivers it may import) in their bundles. Every PoolSet
 * made with the session's storage context is counted (Session.counts).
 */
import type { Qubes } from '../app/app.js';
import type { StorageContext } from '../storage/pool.js';
import { storageContext } from '../storage/pools.js';
import { PoolSet } from '../storage/qube-storage.js';
import type { Session } from './session.js';

const POOL_SETS = Symbol('pool sets of the session');
const STORAGE = Symbol('storage context of the session');

/**
 * The storage context of the session's environment, made once (one
 * command runner: what it learnt of the host, such as device-mapper, holds
 * for the session); a fresh copy, to which callers may add a signal. Its
 * clock (lvm revision names) is the system's: QUBES_TEST_NOW is for
 * firewall rule expiry and update-check dates only.
 */
export function sessionStorage(session: Session): StorageContext {
  return { ...session.once(STORAGE, () => ({ ...storageContext(session.env), onPoolSet: () => session.countPoolSet() })) };
}

/** The pools of `app`, a store loaded in this session: one PoolSet per store, so each driver opens once. */
export function sessionPools(session: Session, app: Qubes): PoolSet {
  const sets = session.once(POOL_SETS, () => new WeakMap<Qubes, PoolSet>());
  let p = sets.get(app);
  if (!p) {
    p = new PoolSet(app, sessionStorage(session));
    sets.set(app, p);
  }
  return p;
}
