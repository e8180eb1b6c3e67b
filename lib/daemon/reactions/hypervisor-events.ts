// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd listens to the hypervisor: one libvirt connection (the daemon
 * store's) subscribed to the lifecycle events of every domain. When a
 * qube's domain stops, for any reason (shut down from inside, destroyed
 * behind our back, crashed), its stop is handled at once through
 * lib/ops/stop-handling.ts, the function the one-shot commands use, and
 * announced on admin.Events as the reference does: domain-stopped, then
 * after the volumes are committed property-reset:xid, stubdom_xid and
 * start_time, then domain-shutdown (then the removal of an auto-cleaned
 * disposable reads as domain-delete, through the store watch).
 *
 * Events are lost while libvirt is away. When the connection drops the
 * daemon opens it again every RETRY_MS; once it is back (or when the daemon
 * starts) every qube is reconciled: a qube whose volumes run without its
 * domain stopped while nobody listened, and is handled then.
 *
 * In offline mode nothing is watched; when libvirt cannot be reached the
 * daemon serves the Admin API as before and keeps trying in the
 * background. Without the daemon the commands' reconcile handles stops
 * (lib/ops/lifecycle.ts).
 *
 * Reference: qubes-core-admin: qubes/app.py (_domain_event_callback,
 * register_event_handlers, the libvirt reconnect callback),
 * qubes/vm/qubesvm.py (on_libvirt_domain_stopped, _domain_stopped_coro,
 * on_domain_stopped).
 */
import { DomainEvent } from '../../vmm/libvirt/constants.js';
import type { LibvirtConnection, LifecycleEvent, Subscription } from '../../vmm/libvirt/connection.js';
import { sessionPools } from '../../ops/session-storage.js';
import { handleStop, type StopHooks, type StopOutcome } from '../../ops/stop-handling.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { runsHere } from '../../vm/vm-properties.js';
import { daemonSession } from '../call-session.js';
import type { DaemonServices } from '../method.js';
import type { Log } from '../server.js';
import type { EventFields } from '../wire.js';

/** How often a lost libvirt connection is tried again. */
const RETRY_MS = 500;


export interface HypervisorReactionsOptions {
  services: DaemonServices;
  /** Announce an event on admin.Events (StoreView.publish). */
  publish(subject: string, event: string, fields?: EventFields): void;
  log: Log;
}

export interface HypervisorReactions {
  stop(): Promise<void>;
}

/** The property-reset events the reference fires while a stopped qube is cleaned up. */
const RESET_ON_STOP = ['xid', 'stubdom_xid', 'start_time'];

class Reactions implements HypervisorReactions {
  private subscription: Subscription | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** The retry under way (stop waits for it, then nothing it opens is left open). */
  private attempt: Promise<void> | undefined;
  private stopped = false;
  /** Per qube, the handling in progress: one after the other (the qube lock orders them with other processes). */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly o: HypervisorReactionsOptions,
    private readonly conn: LibvirtConnection,
  ) {}

  async start(): Promise<void> {
    this.conn.onDisconnect((why) => {
      if (this.stopped) return;
      this.o.log.warning(`lost the connection to libvirt (${why.message}); stops are handled once it is back`);
      this.scheduleRetry();
    });
    this.conn.onReconnect(() => {
      if (this.stopped) return;
      this.o.log.info('connected to libvirt again; handling the qubes that stopped meanwhile');
      this.reconcileAll();
    });
    await this.subscribe();
  }

  /** Subscribe (first time, or after libvirt could not be reached at start), then reconcile. */
  private async subscribe(): Promise<void> {
    try {
      this.subscription = await this.conn.subscribeLifecycle((e) => this.onEvent(e));
    } catch (e) {
      if (this.stopped) return;
      this.o.log.warning(`cannot watch libvirt: ${(e as Error).message}; trying again in the background`);
      this.scheduleRetry();
      return;
    }
    // stopped while subscribing: the subscription opened since is closed here, not leaked
    if (this.stopped) return this.closeSubscription();
    this.reconcileAll();
  }

  private scheduleRetry(): void {
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.attempt = this.tryAgain();
    }, RETRY_MS);
  }

  private async tryAgain(): Promise<void> {
    if (this.stopped) return;
    // never subscribed: subscribing opens the connection
    if (!this.subscription) return this.subscribe();
    try {
      // opening again re-registers the subscription and tells onReconnect
      await this.conn.open();
    } catch {
      this.scheduleRetry();
      return;
    }
    // stopped while opening: the connection opened again registered the subscription again
    if (this.stopped) await this.closeSubscription();
  }

  private async closeSubscription(): Promise<void> {
    await this.subscription?.close().catch(() => undefined);
  }

  private onEvent(e: LifecycleEvent): void {
    // a shutdown, a destroy and a crash all end in STOPPED (its detail says which); the reference acts on it alone
    if (e.event !== DomainEvent.Stopped) return;
    this.enqueue(e.domain.uuid, true);
  }

  /**
   * Every qube whose stop may have gone unheard: one whose own volumes run
   * (looked at in one snapshot, so a store of a thousand qubes is read
   * once), handled in its queue.
   */
  private reconcileAll(): void {
    void this.candidates()
      .then((uuids) => uuids.forEach((uuid) => this.enqueue(uuid, false)))
      .catch((e) => this.o.log.error(`cannot reconcile the qubes: ${(e as Error).message}`));
  }

  private async candidates(): Promise<string[]> {
    const session = daemonSession(this.o.services);
    const app = session.app();
    const pools = sessionPools(session, app);
    const out: string[] = [];
    for (const vm of app.domains.all()) {
      if (!vm.uuid || vm.klass === 'AdminVM' || !runsHere(vm.klass)) continue;
      try {
        if ((await pools.qube(vm)).ownVolumesRunning()) out.push(vm.uuid);
      } catch (e) {
        this.o.log.warning(`cannot look at the volumes of ${vm.name}: ${(e as Error).message}`);
      }
    }
    return out;
  }

  /** Handle a possible stop of the qube of domain `uuid`, after the ones queued for it. */
  private enqueue(uuid: string, heard: boolean): void {
    const key = uuid.toLowerCase();
    const run = () => this.handle(key, heard).catch((e) => this.o.log.error(`handling the stop of domain ${key}: ${(e as Error).message}`));
    const next = (this.queues.get(key) ?? Promise.resolve()).then(run);
    this.queues.set(key, next);
    void next.then(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
  }

  private async handle(uuid: string, heard: boolean): Promise<void> {
    if (this.stopped) return;
    const session = daemonSession(this.o.services, (m) => this.o.log.info(m));
    const app = session.app();
    const vm = app.domains.all().find((q) => q.uuid?.toLowerCase() === uuid);
    // another domain of this libvirtd, or a qube removed meanwhile
    if (!vm || vm.klass === 'AdminVM' || !runsHere(vm.klass)) return;
    const t0 = Date.now();
    const outcome: StopOutcome = await handleStop(session, app, vm, { hooks: this.announcer() });
    if (outcome === 'handled') this.o.log.info(`${vm.name} stopped${heard ? '' : ' while libvirt was not watched'}; handled in ${Date.now() - t0} ms`);
    // a one-shot command handled the stop the daemon heard of: the stop is still announced
    if (outcome === 'done' && heard) this.announceAll(vm);
  }

  private announcer(): StopHooks {
    return {
      stopped: (vm) => this.o.publish(vm.name, 'domain-stopped'),
      shutdown: (vm) => this.shutdownEvents(vm),
      // the frontend's event, as the reference's block extension fires it for a backend that went away
      deviceDetached: (e) => this.o.publish(e.vm, e.event, [['port', e.device]]),
    };
  }

  private shutdownEvents(vm: QubesVM): void {
    for (const name of RESET_ON_STOP) this.o.publish(vm.name, `property-reset:${name}`, [['name', name]]);
    this.o.publish(vm.name, 'domain-shutdown');
  }

  private announceAll(vm: QubesVM): void {
    this.o.publish(vm.name, 'domain-stopped');
    this.shutdownEvents(vm);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.attempt;
    await Promise.allSettled([...this.queues.values()]);
    await this.closeSubscription();
  }
}

/**
 * Watch the hypervisor for the daemon (nothing in offline mode). Never
 * fails: libvirt out of reach is retried in the background.
 */
export async function startHypervisorReactions(o: HypervisorReactionsOptions): Promise<HypervisorReactions> {
  const vmm = o.services.store.vmm;
  if (vmm.offline) return { stop: async () => {} };
  let conn: LibvirtConnection;
  try {
    conn = vmm.libvirt();
  } catch (e) {
    o.log.warning(`not watching the hypervisor: ${(e as Error).message}`);
    return { stop: async () => {} };
  }
  const r = new Reactions(o, conn);
  await r.start();
  return r;
}
