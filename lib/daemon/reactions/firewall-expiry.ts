// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Expiring firewall rules, while the daemon runs: one timer, set to the
 * next second at which a stored rule of any qube expires. When it fires,
 * the expired rules are dropped from their files and each such qube's rules
 * are reloaded into its net qube's QubesDB (ops/firewall-reload.ts
 * expireRules, what qubes-firewall-expire does), and the timer is set to
 * the next expiry.
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
import { firewallFiles, nextRuleExpiry } from '../../firewall/firewall.js';
import { expireRules } from '../../ops/firewall-reload.js';
import type { DaemonServices } from '../method.js';
import type { Log } from '../server.js';

/** setTimeout's longest delay (about 24.8 days); a later expiry is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Changes come in bursts (a temporary file, then a rename): look once they settle. */
const SETTLE_MS = 20;

export interface Reaction {
  stop(): void;
}

export function startFirewallExpiry(services: DaemonServices, log: Log): Reaction {
  let timer: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  let stopped = false;
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

  const arm = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = undefined;
    const app = services.current();
    if (app.vmm.offline) return;
    watchFiles(firewallFiles(app));
    const now = nowMs(services.env);
    const next = nextRuleExpiry(app, now);
    if (next === undefined) return;
    // a rule expires once its second lies strictly behind now
    const delay = Math.min(Math.max(next * 1000 + 1 - now, 0), MAX_DELAY_MS);
    timer = setTimeout(() => enqueue(fire), delay);
    timer.unref();
  };

  const fire = async () => {
    if (stopped) return;
    const result = await expireRules(services.store, services.env, { warn: (m) => log.warning(m) });
    for (const { vm, removed, reload } of result.expired) log.info(`${vm.name}: ${removed} expired firewall rule${removed === 1 ? '' : 's'} removed${reload === 'written' ? `, rules reloaded in ${vm.netvmVm()?.name}` : ''}`);
    for (const { vm, error } of result.failed) log.error(`${vm.name}: ${error.message}`);
    arm();
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
    stop: () => {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      clearTimeout(settle);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
