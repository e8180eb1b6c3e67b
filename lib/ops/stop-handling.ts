// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What follows the stop of a qube, whoever noticed it: qubesd on the
 * hypervisor's event, `qvm-shutdown --wait` and `qvm-kill` after waiting
 * for the domain, any lifecycle command's reconcile of a qube that stopped
 * while nobody listened. One function for all of them, under the qube's
 * lock (qube-lock.ts), so that a stop is handled exactly once:
 *
 *   under the lock: no volume running → handled already (by whoever
 *                   came first), or never started: nothing;
 *                   the domain still (or again) active → nothing (a qube
 *                   started again is not stopped);
 *   otherwise:      `stopped` hook (the reference's domain-stopped) →
 *                   volumes stopped (committed) → QubesDB daemon stopped →
 *                   start time cleared → `shutdown` hook (domain-shutdown)
 *                   → devices the qube provided detached from their
 *                   frontends → a disposable with auto_cleanup removed
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (_domain_stopped_coro,
 * on_domain_stopped), qubes/ext/block.py (on_domain_shutdown),
 * qubes/vm/dispvm.py (on_domain_shutdown, _auto_cleanup); shared/spec
 * vmm.md §3.
 */
import type { Qubes } from '../app/app.js';
import { LibvirtNoDomainError } from '../errors.js';
import type { DeviceEvent } from '../devices/events.js';
import { deviceServices } from '../devices/services.js';
import type { QubeStorage } from '../storage/qube-storage.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { stopDaemon } from '../vmm/qubesdb/ensure.js';
import { clearStartTime } from '../vmm/start-time.js';
import { runDir } from '../config.js';
import { detachProvidedBy } from './device-ops.js';
import { withQubeLock } from './qube-lock.js';
import { removeQube } from './remove-qube.js';
import type { Session } from './session.js';
import { sessionPools, sessionStorage } from './session-storage.js';

/** Told about a stop this call handles (the daemon announces them on admin.Events). */
export interface StopHooks {
  /** The domain is gone and its clean-up begins. */
  stopped?(vm: QubesVM): void;
  /** The volumes are committed and the QubesDB daemon is gone. */
  shutdown?(vm: QubesVM): void;
  /** A device of the qube was detached from a running frontend (device-detach:CLASS of that frontend). */
  deviceDetached?(e: DeviceEvent): void;
}

/** handled: this call did it; done: somebody did already; running: the domain runs (again): nothing to do. */
export type StopOutcome = 'handled' | 'done' | 'running';

export interface StopOptions {
  /** The qube's storage when the caller has it at hand. */
  storage?: QubeStorage;
  hooks?: StopHooks;
}

/** Whether the qube's domain is active now (looked up by UUID, as the reference does). */
async function domainActive(app: Qubes, vm: QubesVM): Promise<boolean> {
  if (app.vmm.offline || !vm.uuid) return false;
  const conn = app.vmm.libvirt();
  try {
    return await conn.isActive(await conn.lookupByUuid(vm.uuid));
  } catch (e) {
    if (e instanceof LibvirtNoDomainError) return false;
    throw e;
  }
}

/** Handle the stop of `vm` (of the session's loaded store `app`) under its lock. */
export function handleStop(session: Session, app: Qubes, vm: QubesVM, opts: StopOptions = {}): Promise<StopOutcome> {
  return withQubeLock(session.env, vm.name, () => handleStopLocked(session, app, vm, opts));
}

/** handleStop for a caller that holds the qube's lock already (a start that failed). */
export async function handleStopLocked(session: Session, app: Qubes, vm: QubesVM, opts: StopOptions = {}): Promise<StopOutcome> {
  const storage = opts.storage ?? (await sessionPools(session, app).qube(vm));
  if (!storage.ownVolumesRunning()) return 'done';
  if (await domainActive(app, vm)) return 'running';
  const run = runDir(session.env);
  opts.hooks?.stopped?.(vm);
  for (const p of await storage.stop()) session.warn(`stopping the volumes of ${vm.name}: ${p}`);
  await stopDaemon(vm.name, { env: session.env });
  clearStartTime(run, vm.name);
  opts.hooks?.shutdown?.(vm);
  await detachProvided(session, app, vm, opts.hooks);
  if (vm.klass === 'DispVM' && vm.get('auto_cleanup') === true) {
    session.log(`removing disposable ${vm.name}`);
    for (const p of await removeQube(session.store(), vm.name, sessionStorage(session))) session.warn(p);
    // the store changed under its lock: the next step loads it again
    session.forget();
  }
  return 'handled';
}

/** Devices of the stopped qube attached to running qubes are gone with it: detach them there. */
async function detachProvided(session: Session, app: Qubes, vm: QubesVM, hooks: StopHooks = {}): Promise<void> {
  if (app.vmm.offline) return;
  try {
    await app.vmm.refresh(app.domains.all());
    const svc = deviceServices(app, session.hostRoots, session.env, { warn: (m) => session.warn(m) });
    const told = hooks.deviceDetached;
    if (told) svc.events.on('event', (e: DeviceEvent) => e.event.startsWith('device-detach:') && told(e));
    for (const d of await detachProvidedBy(svc, app, vm)) session.log(`detached ${d.port.devclass} device ${vm.name}:${d.port.portId} from ${d.frontend}`);
  } catch (e) {
    // the stop is handled; a frontend that refuses the detach keeps a dead disk, as with the reference's ignored errors
    session.warn(`detaching the devices of ${vm.name} from their frontends: ${(e as Error).message}`);
  }
}
