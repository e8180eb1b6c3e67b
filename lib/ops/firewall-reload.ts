// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Loading firewall rules into a running net qube: the QubesDB export of
 * every qube connected to it (lib/firewall/qubesdb-export.ts), written
 * into the net qube's QubesDB, ending with the write that makes its
 * qubes-firewall service reload. Used at qube start, after a rule change
 * (qvm-firewall), and when rules expire (qubes-firewall-expire, qubesd's
 * expiry timer).
 *
 * Reference: qubes-core-admin: qubes/vm/mix/net.py reload_firewall_for_vm,
 * qubes/firewall.py; spec vmm.md §3.2 steps 7 and 10h.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { nowMs, type Env } from '../config.js';
import { DisconnectedError, type QubesError } from '../errors.js';
import { sweepExpiredRules } from '../firewall/firewall.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { PowerState } from '../vmm/vmm.js';
import { QubesDbClient } from '../vmm/qubesdb/client.js';
import { hostStartRuntime } from '../vmm/qubesdb/host-runtime.js';
import { exportFirewall } from '../vmm/qubesdb/write-entries.js';

export type FirewallReload = 'written' | 'net qube not running' | 'no net qube' | 'offline';

/** Qubes' power states and domain ids as a caller that just fetched them (and started some since) knows them. */
export interface NetQubeRuntime {
  state: (vm: QubesVM) => PowerState;
  xid: (vm: QubesVM) => number;
}

/**
 * Write the rules of the clients of `netvm` into its QubesDB when it runs.
 * `warn` hears a running net qube whose QubesDB does not answer. Without
 * `runtime`, the state is fetched (one call listing every domain).
 */
export async function reloadNetQube(app: Qubes, netvm: QubesVM, env: Env, warn: (m: string) => void = () => {}, runtime?: NetQubeRuntime): Promise<FirewallReload> {
  if (app.vmm.offline) return 'offline';
  if (netvm.klass === 'AdminVM') return 'no net qube';
  if (!runtime) {
    // one list call: the net qube's state and its clients' domain ids
    await app.vmm.refresh(app.domains.all());
  }
  const state = runtime?.state ?? ((q: QubesVM) => app.vmm.info(q).state);
  if (state(netvm) === 'Halted') return 'net qube not running';
  let qdb: QubesDbClient;
  try {
    qdb = await QubesDbClient.open(netvm.name, { env });
  } catch (e) {
    if (!(e instanceof DisconnectedError)) throw e;
    warn(`cannot write firewall rules into ${netvm.name}: its QubesDB daemon does not answer`);
    return 'net qube not running';
  }
  try {
    await exportFirewall(qdb, app, netvm, hostStartRuntime(app, { env, xid: runtime?.xid }));
  } finally {
    qdb.close();
  }
  return 'written';
}

/** Reload the rules of `vm` in its net qube, if it has one. */
export async function reloadFirewallFor(app: Qubes, vm: QubesVM, env: Env, warn?: (m: string) => void): Promise<FirewallReload> {
  const netvm = vm.netvmVm();
  return netvm ? reloadNetQube(app, netvm, env, warn) : 'no net qube';
}

export interface ExpiredQube {
  vm: QubesVM;
  /** How many rules expired (dropped from its file unless a dry run). */
  removed: number;
  /** What became of the reload in its net qube (undefined: not tried, a dry run, or it failed: see `reloadFailed`). */
  reload?: FirewallReload;
}

export interface ExpiryResult {
  expired: ExpiredQube[];
  /** Qubes whose firewall.xml could not be read or written: their expired rules are still stored. */
  failed: { vm: QubesVM; error: QubesError }[];
  /**
   * Qubes whose rules are saved without the expired ones but whose reload
   * into the net qube failed: the net qube may still enforce the expired
   * rules until a reload succeeds (pass their names as `retry` next time).
   */
  reloadFailed: { vm: QubesVM; error: Error }[];
}

export interface ExpiryOptions {
  dryRun?: boolean;
  warn?: (m: string) => void;
  /** Qubes whose reload failed before (by name): reloaded again, expired rules or not. */
  retry?: Iterable<string>;
  /** The reload of one qube's rules (reloadFirewallFor; replaced by tests of the failure paths). */
  reload?: (app: Qubes, vm: QubesVM, env: Env, warn?: (m: string) => void) => Promise<FirewallReload>;
}

/**
 * Drop the expired rules of every qube from its firewall.xml and reload
 * the rules of each such qube in its net qube when that runs: the
 * reference's `_expire_rules` for all qubes at once. Used by
 * qubes-firewall-expire (the systemd timer) and by qubesd's expiry timer.
 * Qubes whose file cannot be read or written are in `failed`, those whose
 * reload failed in `reloadFailed`; the others are still handled (the rules
 * are saved out of every file before the first reload, so one failing
 * reload must not leave the later net qubes enforcing expired rules).
 */
export async function expireRules(store: Store, env: Env, opts: ExpiryOptions = {}): Promise<ExpiryResult> {
  const result = await sweepExpiredRules(store, nowMs(env), opts.dryRun === true);
  const retry = new Set(opts.retry ?? []);
  if (opts.dryRun || (result.expired.length === 0 && retry.size === 0)) return { expired: result.expired.map(({ vm, removed }) => ({ vm, removed })), failed: result.failed, reloadFailed: [] };
  const reload = opts.reload ?? reloadFirewallFor;
  const app = store.read();
  const expired: ExpiredQube[] = [];
  const reloadFailed: ExpiryResult['reloadFailed'] = [];
  const reloadOne = async (vm: QubesVM): Promise<FirewallReload | undefined> => {
    const now = app.domains.get(vm.name);
    if (!now) return 'no net qube';
    try {
      return await reload(app, now, env, opts.warn);
    } catch (e) {
      reloadFailed.push({ vm, error: e as Error });
      return undefined;
    }
  };
  for (const { vm, removed } of result.expired) {
    retry.delete(vm.name);
    expired.push({ vm, removed, reload: await reloadOne(vm) });
  }
  // a qube removed since its reload failed needs none
  for (const name of retry) {
    const vm = app.domains.get(name);
    if (vm) await reloadOne(vm);
  }
  return { expired, failed: result.failed, reloadFailed };
}
