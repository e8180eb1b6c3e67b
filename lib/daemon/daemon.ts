// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A whole qubesd: the store view, the method tables of its three sockets,
 * the authorisation seam, the store watch and the reactions (reactions/:
 * what the daemon does by itself when the store or the clock says so),
 * put together from the environment once.
 */
import path from 'node:path';
import { QUBESD_INTERNAL_SOCKET, QUBESD_MISC_SOCKET, QUBESD_SOCKET, qubesdRequestTimeoutMs, qubesdSocketDir } from '../config.js';
import type { Store } from '../app/store.js';
import { methodTable } from './method-table.js';
import { INTERNAL_METHODS } from './methods/internal.js';
import { MISC_METHODS } from './methods/misc.js';
import type { DaemonServices } from './method.js';
import { AdminPermission, policyOnlyPermission } from './permission.js';
import { startFirewallExpiry } from './reactions/firewall-expiry.js';
import { startQubesDbSync } from './reactions/qubesdb-sync.js';
import { startHypervisorReactions } from './reactions/hypervisor-events.js';
import { QubesDaemon, type Log } from './server.js';
import { StoreView } from './store-view.js';
import { DeviceWatch } from './reactions/device-watch.js';

export interface DaemonOptions {
  store: Store;
  env: NodeJS.ProcessEnv;
  debug: boolean;
  logCalls: boolean;
  log: Log;
}

export interface RunningDaemon {
  daemon: QubesDaemon;
  view: StoreView;
  stop(): Promise<void>;
}

/** Start listening; the store is read once first, so that a broken store stops the start with its error. */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const view = new StoreView(o.store);
  view.current();
  const services: DaemonServices = {
    env: o.env,
    store: o.store,
    warn: (m) => o.log.warning(m),
    current: () => view.current(),
    subscribe: (listener) => view.subscribe(listener),
  };
  const dir = qubesdSocketDir(o.env);
  const daemon = new QubesDaemon({
    sockets: [
      { path: path.join(dir, QUBESD_SOCKET), table: methodTable() },
      // the internal API: what the /etc/qubes-rpc scripts ask (volume imports)
      { path: path.join(dir, QUBESD_INTERNAL_SOCKET), table: methodTable([INTERNAL_METHODS]) },
      // the misc API: what a qube's agent tells dom0 about itself
      { path: path.join(dir, QUBESD_MISC_SOCKET), table: methodTable([MISC_METHODS]), permission: policyOnlyPermission() },
    ],
    view,
    permission: new AdminPermission(),
    services,
    debug: o.debug,
    requestTimeoutMs: qubesdRequestTimeoutMs(o.env),
    logCalls: o.logCalls,
    log: o.log,
  });
  await daemon.start();
  view.watch(path.dirname(o.store.file), (e) => o.log.error(`cannot reload ${o.store.file}: ${(e as Error).message}`));
  const devices = new DeviceWatch({ current: () => view.current(), env: o.env, log: o.log, publish: (...e) => view.publish(...e) });
  await devices.start();
  const hypervisor = await startHypervisorReactions({ services, publish: (s, e, f) => view.publish(s, e, f), log: o.log });
  const reactions = [startQubesDbSync(services, o.log), startFirewallExpiry(services, o.log)];
  return {
    daemon,
    view,
    stop: async () => {
      await hypervisor.stop();
      await devices.stop();
      await Promise.all(reactions.map((r) => r.stop()));
      view.close();
      await daemon.stop();
    },
  };
}
