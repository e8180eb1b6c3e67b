// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starting and stopping qubes, in the reference's order, from a command
 * rather than a resident daemon:
 *
 *   start: checks (required devices there) → storage verify → net qube chain → storage start →
 *          firewall into the net qube's QubesDB → define (only now) and
 *          create paused → QubesDB daemon and entries → resume →
 *          firewall reload, clients of a net qube → assigned devices
 *          attached (auto-attach.ts)
 *   stop:  shutdown / destroy → (wait) → storage stop, QubesDB daemon
 *          stopped, start time cleared, disposable removed (auto_cleanup)
 *
 * The store lock is never held across any of it: each step reads the
 * store afresh, and only an auto-cleaned disposable's removal updates it.
 *
 * qubesd hears a domain that stops by itself and handles the stop at
 * once (lib/daemon/reactions/). Without it, its volumes are committed and
 * its leftovers cleared by the next lifecycle command that looks at it
 * (`reconcile`), or at once by `qvm-shutdown --wait` and `qvm-kill`. No
 * data is lost meanwhile: an uncommitted volume is kept. Whoever comes
 * first handles a stop, once (stop-handling.ts, under the qube's lock).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py start, shutdown, kill,
 * pause, unpause, on_domain_stopped; qubes/vm/mix/net.py; shared/spec
 * vmm.md §3.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { runDir, templateDirs, type Env } from '../config.js';
import {
  LibvirtNoDomainError,
  LibvirtOperationInvalidError,
  LibvirtOsTypeError,
  QubesError,
  QubesVMAlreadyStartedError,
  QubesVMError,
  QubesVMInUseError,
  QubesVMNotFoundError,
  QubesVMNotPausedError,
  QubesVMNotRunningError,
  QubesVMNotStartedError,
  QubesVMShutdownTimeoutError,
} from '../errors.js';
import type { QubeStorage } from '../storage/qube-storage.js';
import type { DeviceAssignment } from '../vm/devices.js';
import { isPreloaded } from '../vm/dispvm-template.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { refuseRemoteLifecycle } from '../vm/remote-vm.js';
import { assertStartAllowed } from '../vm/start-checks.js';
import { renderDomainXml } from '../vmm/domain-xml/render.js';
import { CreateFlags } from '../vmm/libvirt/constants.js';
import type { LibvirtConnection } from '../vmm/libvirt/connection.js';
import type { DomainRef } from '../vmm/libvirt/procedures.js';
import { isRunningState } from '../vmm/power-state.js';
import { QubesDbClient } from '../vmm/qubesdb/client.js';
import { ensureDaemon } from '../vmm/qubesdb/ensure.js';
import { hostStartRuntime } from '../vmm/qubesdb/host-runtime.js';
import { exportFirewall, writeStartEntries } from '../vmm/qubesdb/write-entries.js';
import { recordStartTime } from '../vmm/start-time.js';
import type { PowerState } from '../vmm/vmm.js';
import { attachAtStart } from './auto-attach.js';
import { assertRequiredDevicesPresent } from './required-devices.js';
import { reloadNetQube, type NetQubeRuntime } from './firewall-reload.js';
import type { Session } from './session.js';
import { sessionPools } from './session-storage.js';
import { withQubeLock } from './qube-lock.js';
import { handleStop, handleStopLocked, type StopOutcome } from './stop-handling.js';

export interface LifecycleOptions {
  /** Poll interval while waiting for a domain to stop. */
  pollMs?: number;
}

export interface StartOptions {
  /** Block devices for this start only (qvm-start's drive options): rendered, never stored. */
  startOnlyBlock?: DeviceAssignment[];
}

export interface ShutdownOptions {
  force?: boolean;
  wait?: boolean;
  /** Seconds; default the qube's shutdown_timeout. */
  timeout?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running qubes among `users` (their state fetched again: the list call may be older than their stop). */
async function runningOf(app: Qubes, users: QubesVM[]): Promise<QubesVM[]> {
  const maybe = users.filter((c) => isRunningState(app.vmm.info(c).state));
  if (maybe.length === 0) return [];
  await app.vmm.refresh(maybe);
  return maybe.filter((c) => isRunningState(app.vmm.info(c).state));
}

const names = (vms: QubesVM[]) => vms.map((c) => c.name).join(', ');

/**
 * A qube that running qubes use is not shut down (unless forced): the GUI
 * qube of a running qube (QubesVMError, as the reference's GUI extension),
 * its audio qube (QubesVMInUseError; preloaded disposables do not count)
 * and its net qube (QubesVMInUseError, which qvm-shutdown retries once the
 * clients stopped), checked in that order.
 */
async function refuseWhileUsed(app: Qubes, vm: QubesVM): Promise<void> {
  const usersBy = (prop: string) => app.domains.all().filter((q) => q !== vm && q.has(prop) && q.vmRef(prop) === vm);
  const gui = await runningOf(app, usersBy('guivm'));
  if (gui.length) throw new QubesVMError(`There are running VMs using this VM as GuiVM: ${names(gui)}`);
  const audio = await runningOf(app, usersBy('audiovm').filter((q) => !(q.klass === 'DispVM' && isPreloaded(q))));
  if (audio.length) throw new QubesVMInUseError(`There are running VMs using this VM as AudioVM: ${names(audio)}`);
  if (!vm.providesNetwork()) return;
  const clients = await runningOf(app, app.domains.connectedTo(vm).filter((q) => !(q.klass === 'DispVM' && isPreloaded(q))));
  if (clients.length) throw new QubesVMInUseError(`There are other VMs connected to this VM: ${names(clients)}`);
}

export class Lifecycle {
  private readonly store: Store;
  private readonly env: Env;
  private readonly runDir: string;
  private readonly pollMs: number;
  private readonly log: (m: string) => void;
  private readonly warn: (m: string) => void;
  /**
   * Domain ids of the qubes this command started since its hypervisor
   * state was fetched (a net qube, then its client): what that state
   * says of them is from before, and fetching it again for each step
   * would cost a call listing every domain.
   */
  private readonly started = new Map<string, number>();

  constructor(
    private readonly session: Session,
    opts: LifecycleOptions = {},
  ) {
    this.store = session.store();
    this.env = session.env;
    this.runDir = runDir(session.env);
    this.pollMs = opts.pollMs ?? 250;
    this.log = (m) => session.log(m);
    this.warn = (m) => session.warn(m);
  }

  // ---- state ------------------------------------------------------------------

  /**
   * The command's loaded store (one load for all its steps), with fresh
   * runtime state (one call answers for every qube).
   */
  private async fresh(names: string[]): Promise<{ app: Qubes; vms: QubesVM[] }> {
    const app = this.session.app();
    const vms = names.map((n) => {
      const vm = app.domains.get(n);
      if (!vm) throw new QubesVMNotFoundError(n);
      return vm;
    });
    await app.vmm.refresh(vms);
    this.started.clear();
    return { app, vms };
  }

  /** Runtime state as of the last refresh, corrected for the qubes started since. */
  private runtime(app: Qubes): NetQubeRuntime {
    return {
      state: (q) => (this.started.has(q.name) ? 'Running' : app.vmm.info(q).state),
      xid: (q) => this.started.get(q.name) ?? (q.klass === 'AdminVM' ? 0 : app.vmm.info(q).xid),
    };
  }

  async state(name: string): Promise<PowerState> {
    const { app, vms } = await this.fresh([name]);
    return app.vmm.info(vms[0] as QubesVM).state;
  }

  private conn(app: Qubes): LibvirtConnection {
    return app.vmm.libvirt();
  }

  /** The qube's domain, looked up by UUID; undefined when libvirt does not know it. */
  private async domain(app: Qubes, vm: QubesVM): Promise<DomainRef | undefined> {
    try {
      return await this.conn(app).lookupByUuid(vm.uuid as string);
    } catch (e) {
      if (e instanceof LibvirtNoDomainError) return undefined;
      throw e;
    }
  }

  // ---- start ------------------------------------------------------------------

  /**
   * Start a qube (and, first, the chain of net qubes it needs).
   * @throws QubesVMAlreadyStartedError when it is not halted
   */
  async start(name: string, opts: StartOptions = {}): Promise<void> {
    const { app, vms } = await this.fresh([name]);
    await this.startLoaded(app, vms[0] as QubesVM, opts);
  }

  /**
   * Start `vm` of the loaded store, whose runtime state was just fetched
   * (once for the whole net qube chain). The qube's lock is held from the
   * look at its stopped domain until the new one runs, so that nobody
   * handles a stop of the qube meanwhile (qube-lock.ts).
   */
  private async startLoaded(app: Qubes, vm: QubesVM, opts: StartOptions): Promise<void> {
    if (vm.klass === 'AdminVM') throw new QubesVMAlreadyStartedError(`Domain is already running: '${vm.name}'`);
    refuseRemoteLifecycle(vm, 'start');
    await withQubeLock(this.env, vm.name, () => this.startLocked(app, vm, opts));
    // the domain runs: its devices are attached outside the lock (an ask-to-attach waits for the user)
    await attachAtStart(app, vm, this.session);
  }

  private async startLocked(app: Qubes, vm: QubesVM, opts: StartOptions): Promise<void> {
    const name = vm.name;
    const rtState = this.runtime(app);
    const already = () => new QubesVMAlreadyStartedError(`Domain is already running: '${name}'`);
    if (rtState.state(vm) !== 'Halted') throw already();
    // stopped since it was started (nobody handled it yet), or started by another command meanwhile
    if ((await this.reconcileLocked(app, vm)) === 'running') throw already();
    assertStartAllowed(vm);
    await assertRequiredDevicesPresent(app, vm, this.session);

    const storage = await sessionPools(this.session, app).qube(vm);
    await storage.verify();

    const netvm = vm.vmRef('netvm');
    if (netvm && netvm.klass !== 'AdminVM' && rtState.state(netvm) === 'Halted') {
      this.log(`starting ${netvm.name}, the net qube of ${name}`);
      try {
        await this.startLoaded(app, netvm, {});
      } catch (e) {
        if (!(e instanceof QubesVMAlreadyStartedError)) throw e;
        // started meanwhile by another command (at boot, the net qube's own qubes-vm@ unit): learn its domain id
        await app.vmm.refresh([netvm]);
      }
    }

    this.log(`starting the volumes of ${name}`);
    await storage.start();
    let dom: DomainRef;
    try {
      // the net qube's vif script runs as soon as the paused domain exists: rules first
      if (netvm && netvm.klass !== 'AdminVM') await this.exportFirewallOf(app, netvm);
      const xml = await renderDomainXml(app, vm, app.vmm.uri, {
        startOnlyBlock: opts.startOnlyBlock,
        pools: sessionPools(this.session, app),
        sysRoot: this.session.hostRoots.sys,
        templateDirs: templateDirs(this.env),
        xidOf: rtState.xid,
        refreshed: true,
      });
      const conn = this.conn(app);
      const defined = await conn.defineXml(xml);
      dom = await conn.create(defined, CreateFlags.StartPaused);
    } catch (e) {
      await this.stopStorage(storage);
      if (e instanceof LibvirtOsTypeError && /hvm/i.test(`${e.str2 ?? ''} ${e.message}`))
        throw new QubesError(`Cannot start ${name}: the hypervisor does not support HVM; check that VT-x/AMD-V is enabled in the BIOS`);
      throw e;
    }

    try {
      await ensureDaemon(vm.name, dom.id, { env: this.env });
      const qdb = await QubesDbClient.open(vm.name, { env: this.env });
      // the state fetched before the start does not know this qube's new domain id
      this.started.set(vm.name, dom.id);
      const rt = hostStartRuntime(app, { xid: rtState.xid, env: this.env });
      try {
        await writeStartEntries(qdb, app, vm, rt);
        if (vm.has('provides_network') && vm.get('provides_network') === true) await exportFirewall(qdb, app, vm, rt);
      } finally {
        qdb.close();
      }
      await this.conn(app).resume(dom);
      recordStartTime(this.runDir, vm.name);
      if (netvm && netvm.klass !== 'AdminVM') await this.exportFirewallOf(app, netvm);
    } catch (e) {
      try {
        await this.conn(app).destroy(dom);
      } catch {
        // already gone
      }
      this.started.delete(vm.name);
      await handleStopLocked(this.session, app, vm, { storage });
      throw e;
    }
  }

  /** Write the firewall export of every client into a running net qube's QubesDB. */
  private async exportFirewallOf(app: Qubes, netvm: QubesVM): Promise<void> {
    await reloadNetQube(app, netvm, this.env, this.warn, this.runtime(app));
  }

  // ---- stop -------------------------------------------------------------------

  /**
   * Ask a qube to shut down; with `wait`, wait until it has (then its
   * volumes are committed).
   * @throws QubesVMNotStartedError (halted), QubesVMError and
   *   QubesVMInUseError (running qubes use it, unless force; see
   *   refuseWhileUsed), QubesVMNotRunningError (paused, unless force),
   *   QubesVMShutdownTimeoutError
   */
  async shutdown(name: string, opts: ShutdownOptions = {}): Promise<void> {
    const { app, vms } = await this.fresh([name]);
    const vm = vms[0] as QubesVM;
    if (vm.klass === 'AdminVM') throw new QubesError('Cannot shut down dom0 with qvm-shutdown');
    refuseRemoteLifecycle(vm, 'shut down');
    await this.reconcile(app, vm);
    const state = app.vmm.info(vm).state;
    if (state === 'Halted') throw new QubesVMNotStartedError(`Domain is powered off: '${name}'`);
    if (!opts.force) {
      await refuseWhileUsed(app, vm);
      if (state === 'Paused') throw new QubesVMNotRunningError(`Domain is paused; unpause it first or use --force: '${name}'`);
    }
    const dom = await this.domain(app, vm);
    if (!dom) throw new QubesVMNotStartedError(`Domain is powered off: '${name}'`);
    const conn = this.conn(app);
    try {
      if (state === 'Paused') await conn.destroy(dom);
      else await conn.shutdown(dom);
    } catch (e) {
      if (!(e instanceof LibvirtOperationInvalidError || e instanceof LibvirtNoDomainError)) throw e;
      // it stopped between our look and the request: waiting for it is done at once
      if (!opts.wait) throw new QubesVMNotStartedError(`Domain is powered off: '${name}'`);
    }
    if (opts.wait) await this.waitForShutdown(name, opts.timeout);
  }

  /**
   * Wait until a qube asked to shut down has stopped (timeout in seconds,
   * default its shutdown_timeout), then clear up after it.
   * @throws QubesVMShutdownTimeoutError
   */
  async waitForShutdown(name: string, timeout?: number): Promise<void> {
    const app = this.session.app();
    const vm = app.domains.get(name);
    if (!vm) throw new QubesVMNotFoundError(name);
    const dom = await this.domain(app, vm);
    const seconds = timeout ?? Number(vm.get('shutdown_timeout') ?? 60);
    if (dom && !(await this.waitStopped(this.conn(app), dom, seconds * 1000))) throw new QubesVMShutdownTimeoutError(`Domain shutdown timed out: '${name}'`);
    await app.vmm.refresh([vm]);
    await this.afterStop(app, vm);
  }

  /** Destroy a qube's domain at once, then clear up after it. */
  async kill(name: string): Promise<void> {
    const { app, vms } = await this.fresh([name]);
    const vm = vms[0] as QubesVM;
    if (vm.klass === 'AdminVM') throw new QubesError('Cannot kill dom0');
    refuseRemoteLifecycle(vm, 'kill');
    const dom = app.vmm.info(vm).state === 'Halted' ? undefined : await this.domain(app, vm);
    if (!dom) {
      await this.reconcile(app, vm);
      throw new QubesVMNotStartedError(`Domain is powered off: '${name}'`);
    }
    const conn = this.conn(app);
    try {
      await conn.destroy(dom);
    } catch (e) {
      if (e instanceof LibvirtOperationInvalidError || e instanceof LibvirtNoDomainError) throw new QubesVMNotStartedError(`Domain is powered off: '${name}'`);
      throw e;
    }
    await this.waitStopped(conn, dom, 10000);
    await this.afterStop(app, vm);
  }

  async pause(name: string): Promise<void> {
    const { app, vms } = await this.fresh([name]);
    const vm = vms[0] as QubesVM;
    refuseRemoteLifecycle(vm, 'pause');
    const dom = isRunningState(app.vmm.info(vm).state) && vm.klass !== 'AdminVM' ? await this.domain(app, vm) : undefined;
    if (!dom) throw new QubesVMNotRunningError(`Domain is not running: '${name}'`);
    await this.conn(app).suspend(dom);
  }

  async unpause(name: string): Promise<void> {
    const { app, vms } = await this.fresh([name]);
    const vm = vms[0] as QubesVM;
    refuseRemoteLifecycle(vm, 'unpause');
    const dom = app.vmm.info(vm).state === 'Paused' ? await this.domain(app, vm) : undefined;
    if (!dom) throw new QubesVMNotPausedError(`Domain is not paused: '${name}'`);
    await this.conn(app).resume(dom);
  }

  /** Poll until the domain is no longer active; false on timeout. */
  private async waitStopped(conn: LibvirtConnection, dom: DomainRef, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (!(await conn.isActive(dom))) return true;
      } catch (e) {
        if (e instanceof LibvirtNoDomainError) return true;
        throw e;
      }
      if (Date.now() >= deadline) return false;
      await sleep(this.pollMs);
    }
  }

  // ---- after a stop -------------------------------------------------------------

  /**
   * A qube whose domain is gone but whose volumes still run stopped by
   * itself, while nobody listened (or a command was killed): clear up
   * after it now (stop-handling.ts; nothing when it was handled already).
   */
  private async reconcile(app: Qubes, vm: QubesVM): Promise<void> {
    if (vm.klass === 'AdminVM' || app.vmm.info(vm).state !== 'Halted') return;
    await withQubeLock(this.env, vm.name, () => this.reconcileLocked(app, vm));
  }

  private async reconcileLocked(app: Qubes, vm: QubesVM): Promise<StopOutcome> {
    const storage = await sessionPools(this.session, app).qube(vm);
    if (!storage.ownVolumesRunning()) return 'done';
    this.log(`${vm.name} stopped since it was started; committing its volumes`);
    return handleStopLocked(this.session, app, vm, { storage });
  }

  /** What qubesd does on domain-stopped and domain-shutdown (stop-handling.ts), once. */
  private async afterStop(app: Qubes, vm: QubesVM): Promise<void> {
    this.started.delete(vm.name);
    await handleStop(this.session, app, vm);
  }

  private async stopStorage(storage: QubeStorage): Promise<void> {
    for (const p of await storage.stop()) this.warn(`stopping the volumes of ${storage.vmName}: ${p}`);
  }
}
