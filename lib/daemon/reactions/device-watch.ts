// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd's watch of the block devices backends expose. A backend qube's
 * list is its QubesDB's `/qubes-block-devices/` (its udev script ends
 * each change with an empty write of `/qubes-block-devices`, which the
 * watch hears); dom0's is read from sysfs (block-export.ts), looked at
 * every QUBESD_DEVICE_POLL_MS, as are the qubes' states (a backend that
 * starts or stops).
 *
 * Each change of a backend's list is announced on admin.Events as the
 * reference does (subject the backend): `device-list-change:block`, then
 * `device-removed:block` (field port, `BACKEND:PORT`) for each device gone
 * and `device-added:block` (field device, `BACKEND:PORT:DEVICE_ID`) for
 * each new one; the new ones then go to the running qubes whose
 * assignments match them (ops/auto-attach.ts), each attach announced as
 * `device-attach:block` (device, options) of the frontend. The lists known
 * when the daemon starts are taken as they are, announcing nothing.
 * Checks run one at a time, in the order they were asked for.
 *
 * Not done here: devices attached or detached behind the daemon's back
 * (the reference announces those too), and USB lists.
 *
 * Reference: qubes-core-admin: qubes/ext/block.py (on_domain_init_load,
 * on_qdb_change), qubes/ext/utils.py (device_list_change,
 * compare_device_cache); shared/spec/firewall-and-devices.md B6.
 */
import type { Qubes } from '../../app/app.js';
import { hostRoots, qubesdDevicePollMs, type Env } from '../../config.js';
import type { DeviceEvent } from '../../devices/events.js';
import { portText, type DeviceInfo } from '../../devices/model.js';
import { deviceServices } from '../../devices/services.js';
import { DisconnectedError } from '../../errors.js';
import { attachAppeared, autoAttachContext } from '../../ops/auto-attach.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { QubesDbClient } from '../../vmm/qubesdb/client.js';
import type { Log } from '../server.js';
import type { EventFields } from '../wire.js';

const DEVCLASS = 'block';
/** The key a backend's udev script writes last after each change. */
const QDB_CHANGE_KEY = '/qubes-block-devices';

export interface DeviceWatchOptions {
  /** The store as it is now. */
  current(): Qubes;
  env: Env;
  log: Log;
  publish(subject: string, event: string, fields: EventFields): void;
}

/** A dict's text as the reference's str() shows it in an event. */
const pyDict = (pairs: [string, string][]): string => `{${pairs.map(([k, v]) => `'${k}': '${v}'`).join(', ')}}`;

export class DeviceWatch {
  /** Ports each backend exposed at its last check. */
  private readonly known = new Map<string, Set<string>>();
  /** Whether each qube ran at the last look. */
  private readonly wasRunning = new Map<string, boolean>();
  /** The QubesDB watches of running qubes (undefined while connecting). */
  private readonly watchers = new Map<string, QubesDbClient | undefined>();
  private queue: Promise<void> = Promise.resolve();
  /** Looks and checks asked for and not begun: one of each is enough (a question to the user may hold the queue). */
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Aborted at stop: a question to the user still unanswered is given up. */
  private readonly stopping = new AbortController();
  private lastError = '';

  constructor(private readonly o: DeviceWatchOptions) {}

  /** Take the present lists as known, then watch. */
  async start(): Promise<void> {
    // offline (no hypervisor) nothing runs, so nothing is exposed or attached
    if (this.o.current().vmm.offline) return;
    await this.run(() => this.look(true));
    this.timer = setInterval(() => void this.once('', () => this.look(false)), qubesdDevicePollMs(this.o.env));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearInterval(this.timer);
    for (const c of this.watchers.values()) c?.close();
    this.watchers.clear();
    await this.queue;
  }

  /** Run `step` after the steps before it; its failure is logged (once while it repeats), never thrown. */
  private run(step: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await step();
        this.lastError = '';
      } catch (e) {
        const msg = `device watch: ${(e as Error).message}`;
        if (msg !== this.lastError) this.o.log.error(msg);
        this.lastError = msg;
      }
    });
    this.queue = next;
    return next;
  }

  /** Run `step` unless one of the same `key` waits to begin already. */
  private once(key: string, step: () => Promise<void>): Promise<void> {
    if (this.pending.has(key)) return Promise.resolve();
    this.pending.add(key);
    return this.run(() => {
      this.pending.delete(key);
      return step();
    });
  }

  /** dom0's list, and the lists of qubes that started or stopped since the last look. */
  private async look(first: boolean): Promise<void> {
    const app = this.o.current();
    const qubes = app.domains.all().filter((vm) => vm.klass !== 'RemoteVM');
    // forget the qubes removed (a qube created again under the name starts afresh)
    const names = new Set(qubes.map((vm) => vm.name));
    for (const map of [this.known, this.wasRunning]) for (const name of map.keys()) if (!names.has(name)) map.delete(name);
    await app.vmm.refresh(qubes);
    for (const vm of qubes) {
      const running = vm.klass === 'AdminVM' || app.vmm.info(vm).state === 'Running';
      const changed = this.wasRunning.get(vm.name) !== running;
      this.wasRunning.set(vm.name, running);
      if (running && vm.klass !== 'AdminVM' && !this.watchers.has(vm.name)) void this.watchQubesDb(vm.name);
      if (vm.klass === 'AdminVM' || changed) await this.check(app, vm, first);
    }
  }

  /** Hear the backend's QubesDB changes until its daemon goes (the next look watches again when it runs). */
  private async watchQubesDb(name: string): Promise<void> {
    let client: QubesDbClient | undefined;
    this.watchers.set(name, undefined);
    try {
      client = await QubesDbClient.open(name, { env: this.o.env });
      if (this.stopped) return;
      this.watchers.set(name, client);
      await client.watch(QDB_CHANGE_KEY);
      for (;;) {
        await client.readWatch();
        void this.once(name, async () => {
          const app = this.o.current();
          const vm = app.domains.get(name);
          if (vm) await this.check(app, vm, false);
        });
      }
    } catch (e) {
      if (!(e instanceof DisconnectedError) && !this.stopped) this.o.log.warning(`device watch of ${name}: ${(e as Error).message}`);
    } finally {
      client?.close();
      this.watchers.delete(name);
    }
  }

  /** Compare the backend's list with the one known, announce the difference, attach what appeared. */
  private async check(app: Qubes, backend: QubesVM, silent: boolean): Promise<void> {
    const warn = (m: string) => this.o.log.warning(m);
    const roots = hostRoots(this.o.env);
    const svc = deviceServices(app, roots, this.o.env, { warn });
    const devices = await svc.enumerator.exposed(backend, DEVCLASS);
    const before = this.known.get(backend.name) ?? new Set<string>();
    const now = new Set(devices.map((d) => d.portId));
    this.known.set(backend.name, now);
    if (silent) return;
    const added: DeviceInfo[] = devices.filter((d) => !before.has(d.portId));
    const removed = [...before].filter((p) => !now.has(p));
    if (!added.length && !removed.length) return;
    this.o.publish(backend.name, `device-list-change:${DEVCLASS}`, []);
    for (const port of removed) this.o.publish(backend.name, `device-removed:${DEVCLASS}`, [['port', `${backend.name}:${port}`]]);
    for (const d of added) this.o.publish(backend.name, `device-added:${DEVCLASS}`, [['device', `${portText(d)}:${d.deviceId}`]]);
    svc.events.on(`device-attach:${DEVCLASS}`, (e: DeviceEvent) =>
      this.o.publish(e.vm, e.event, [
        ['device', e.deviceId === undefined ? e.device : `${e.device}:${e.deviceId}`],
        ['options', pyDict(e.options ?? [])],
      ]),
    );
    await attachAppeared(autoAttachContext(app, { env: this.o.env, hostRoots: roots, warn }, svc, this.stopping.signal), added);
  }
}
