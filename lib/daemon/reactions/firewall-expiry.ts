// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Expiring firewall rules, while the daemon runs: one timer, set to the
 * next second at which a stored rule of any qube expires. When it fires,
 * the expired rules are dropped from their files and each such qube's rules
 * are reloaded into its net qube's QubesDB (ops/firewall-reload.ts
 * expireRules, what qubes-firewall-expire does), and the timer is set to
 * the next expiry.
 *
 * A failed expiry (libvirt down, the store lock not had, a QubesDB that
 * fails) is tried again after a back-off (5 s, doubling up to 60 s, or
 * sooner when another rule expires first); the qubes whose reload failed
 * are reloaded again then, though their expired rules are already gone
 * from their files.
 *
 * The timer is set again whenever the rules may have changed: when the
 * store changes (a qube added, removed, given another net qube; noticed
 * through the store reload whoever made the change) and when a qube's
 * firewall.xml changes (qvm-firewall or admin.vm.firewall.Set: the
 * directories holding the files are watched, since a save replaces the
 * file). Offline there is no timer, as in the reference.
 *
 * The reference arms one timer per save of a qube's rules and none at its
 * start; this one also covers rules stored before the daemon started.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Firewall.save,
 * _expire_rules); shared/spec/firewall-and-devices.md A6.
 */
import fs from 'node:fs';
import path from 'node:path';
import { nowMs } from '../../config.js';
import { firewallFiles, nextRuleExpiry, RuleFileCache } from '../../firewall/firewall.js';
import { expireRules } from '../../ops/firewall-reload.js';
import type { DaemonServices } from '../method.js';
import type { Log } from '../server.js';
import type { Reaction } from './reaction.js';

/** setTimeout's longest delay (about 24.8 days); a later expiry is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Changes come in bursts (a temporary file, then a rename): look once they settle. */
const SETTLE_MS = 20;

/** The first wait before trying a failed expiry again, and the longest (each failure in a row doubles it). */
export const RETRY_FIRST_MS = 5000;
export const RETRY_MAX_MS = 60_000;

export interface FirewallExpiryOptions {
  /** The expiry itself (expireRules; replaced by tests of the failure paths). */
  expire?: typeof expireRules;
  /** Back-off bounds (RETRY_FIRST_MS, RETRY_MAX_MS; shorter in tests). */
  retryFirstMs?: number;
  retryMaxMs?: number;
}

export function startFirewallExpiry(services: DaemonServices, log: Log, o: FirewallExpiryOptions = {}): Reaction {
  const expire = o.expire ?? expireRules;
  const retryFirstMs = o.retryFirstMs ?? RETRY_FIRST_MS;
  const retryMaxMs = o.retryMaxMs ?? RETRY_MAX_MS;
  let timer: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  let stopped = false;
  /** The wait before trying again after a failure (0: the last expiry went well). */
  let backoff = 0;
  /** Qubes whose rules were saved without expired ones but not reloaded into their net qube. */
  let reloadPending = new Set<string>();
  /** Every qube's rules as last read: a store change re-reads only the files that changed. */
  const files = new RuleFileCache();
  /** Expiry and re-arming, one at a time. */
  let queue: Promise<void> = Promise.resolve();
  const watchers = new Map<string, fs.FSWatcher>();

  const enqueue = (work: () => Promise<void> | void) => {
    queue = queue.then(work).catch((e: unknown) => log.error(`firewall expiry: ${(e as Error).message}`));
  };

  /** Watch the directory of every qube's rules file; stop watching those of qubes gone. */
  const watchFiles = (files: string[]) => {
    const dirs = new Set(files.map((f) => path.dirname(f)));
    for (const [dir, w] of watchers)
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    for (const dir of dirs) {
      if (watchers.has(dir) || !fs.existsSync(dir)) continue;
      try {
        const names = new Set(files.filter((f) => path.dirname(f) === dir).map((f) => path.basename(f)));
        const w = fs.watch(dir, { persistent: false }, (_type, name) => {
          if (name === null || names.has(name.toString())) changed();
        });
        w.on('error', () => {
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // a directory removed meanwhile: the store change that removed its qube comes next
      }
    }
  };

  const setTimer = (delay: number) => {
    timer = setTimeout(() => enqueue(fire), Math.min(delay, MAX_DELAY_MS));
    timer.unref();
  };

  const arm = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = undefined;
    const app = services.current();
    if (app.vmm.offline) return;
    let delay: number | undefined;
    try {
      watchFiles(firewallFiles(app));
      const now = nowMs(services.env);
      const next = nextRuleExpiry(app, now, files);
      // a rule expires once its second lies strictly behind now
      if (next !== undefined) delay = Math.max(next * 1000 + 1 - now, 0);
    } catch (e) {
      if (!backoff) backoff = retryFirstMs;
      log.error(`firewall expiry: ${(e as Error).message}`);
    }
    // after a failure: again after the back-off, or sooner for a rule expiring later than now
    if (backoff) delay = delay === undefined || delay === 0 ? backoff : Math.min(delay, backoff);
    if (delay !== undefined) setTimer(delay);
  };

  const fire = async () => {
    if (stopped) return;
    let ok = false;
    try {
      const result = await expire(services.store, services.env, { warn: (m) => log.warning(m), retry: reloadPending });
      if (stopped) return;
      for (const { vm, removed, reload } of result.expired)
        log.info(`${vm.name}: ${removed} expired firewall rule${removed === 1 ? '' : 's'} removed${reload === 'written' ? `, rules reloaded in ${vm.netvmVm()?.name}` : ''}`);
      for (const { vm, error } of result.failed) log.error(`${vm.name}: ${error.message}`);
      for (const { vm, error } of result.reloadFailed) log.error(`${vm.name}: cannot reload its firewall rules in its net qube (tried again later): ${error.message}`);
      reloadPending = new Set(result.reloadFailed.map(({ vm }) => vm.name));
      ok = result.failed.length === 0 && result.reloadFailed.length === 0;
    } catch (e) {
      log.error(`firewall expiry: ${(e as Error).message}`);
    } finally {
      backoff = ok ? 0 : Math.min(backoff ? backoff * 2 : retryFirstMs, retryMaxMs);
      arm();
    }
  };

  const changed = () => {
    if (settle) return;
    settle = setTimeout(() => {
      settle = undefined;
      enqueue(arm);
    }, SETTLE_MS);
    settle.unref();
  };

  const unsubscribe = services.subscribe(changed);
  enqueue(arm);
  return {
    stop: async () => {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      clearTimeout(settle);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await queue;
    },
  };
}
