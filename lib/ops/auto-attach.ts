// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Attaching assigned devices without being asked: the `auto-attach` and
 * `ask-to-attach` assignments of a qube when it starts (required ones are
 * in its domain already), and the assignments of running qubes that match
 * a device when it appears on its backend (qubesd's device watch).
 *
 * Of several assignments of one qube matching a device, the most specific
 * is used (port and identity, then port, then identity). An
 * `ask-to-attach` assignment attaches only when the user chooses that
 * qube (confirm-attach.ts); so does a device that appears with
 * assignments of several running qubes, and the qube chosen gets it
 * without being asked again. A device attached somewhere already is left
 * where it is. A failed attach (a class this build cannot attach live, a
 * backend that stopped) is a warning: it never fails the start.
 *
 * Reference: qubes-core-admin: qubes/ext/block.py (on_domain_start,
 * attach_and_notify), qubes/ext/utils.py (device_list_change,
 * resolve_conflicts_and_attach), qubes/device_protocol.py
 * (VirtualDevice.__lt__, DeviceAssignment.devices);
 * shared/spec/firewall-and-devices.md B4, B6.
 */
import type { Qubes } from '../app/app.js';
import { guiAgentConfirm, type ConfirmAttach } from '../devices/confirm-attach.js';
import { describe } from '../devices/description.js';
import { ANY, matches, portText, type DeviceInfo } from '../devices/model.js';
import { assignmentDevice, assignmentsOf, attach, attachedElsewhere, type DeviceServices } from '../devices/operations.js';
import { deviceServices } from '../devices/services.js';
import { QubesError } from '../errors.js';
import type { DeviceAssignment } from '../vm/devices.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Session } from './session.js';

export interface AutoAttach {
  svc: DeviceServices;
  app: Qubes;
  confirm: ConfirmAttach;
  warn(message: string): void;
}

/**
 * The auto-attach context of a store as loaded, for a command or the
 * daemon (`signal`: stop waiting for the user's answers).
 */
export function autoAttachContext(app: Qubes, session: Pick<Session, 'env' | 'hostRoots' | 'warn'>, svc?: DeviceServices, signal?: AbortSignal): AutoAttach {
  const warn = (m: string) => session.warn(m);
  return {
    svc: svc ?? deviceServices(app, session.hostRoots, session.env, { warn }),
    app,
    confirm: guiAgentConfirm(app, session.env, warn, signal),
    warn,
  };
}

/** 3: port and identity; 2: port only; 1: identity only (the reference's order, most specific first). */
const specificity = (a: DeviceAssignment): number => (a.port !== ANY ? 2 : 0) + (a.identity !== ANY ? 1 : 0);
const mostSpecificFirst = (list: DeviceAssignment[]) => [...list].sort((a, b) => specificity(b) - specificity(a));

/** Attach `dev` to `vm` for `assignment`, asking first when its mode says so (`asked`: the user chose already). */
async function attachFor(ctx: AutoAttach, vm: QubesVM, dev: DeviceInfo, assignment: DeviceAssignment, asked: boolean): Promise<void> {
  if (assignment.mode === 'ask-to-attach' && !asked) {
    const chosen = await ctx.confirm({ source: dev.backend, deviceName: describe(dev, ctx.svc.enumerator.hw), port: dev.portId, targets: [vm.name] });
    if (chosen !== vm.name) return;
  }
  try {
    await attach(ctx.svc, ctx.app, vm, dev, assignment.options);
  } catch (e) {
    if (!(e instanceof QubesError)) throw e;
    ctx.warn(`${vm.name}: ${dev.devclass} device ${portText(dev)} assigned (${assignment.mode}) was not attached: ${e.message}`);
  }
}

/** The devices exposed now that an assignment names (one at its port, or every match of its identity). */
async function devicesOf(ctx: AutoAttach, a: DeviceAssignment, devclass: string): Promise<DeviceInfo[]> {
  const backend = ctx.app.domains.get(a.backend);
  if (!backend) return [];
  if (a.port !== ANY) return [await ctx.svc.enumerator.get(backend, devclass, a.port)];
  return (await ctx.svc.enumerator.exposed(backend, devclass)).filter((d) => matches(assignmentDevice(a, devclass), d));
}

/**
 * `vm` has just started: attach the devices of its `auto-attach` and
 * `ask-to-attach` assignments that are there and free. PCI devices are
 * only ever required (in the domain from the start).
 */
export async function attachAssignedAtStart(ctx: AutoAttach, vm: QubesVM): Promise<void> {
  for (const { devclass, assignments } of vm.devices) {
    if (devclass === 'pci') continue;
    const picked = new Map<string, { dev: DeviceInfo; assignment: DeviceAssignment }>();
    for (const a of mostSpecificFirst(assignments.filter((x) => x.mode !== 'required'))) {
      // the qube runs already: a backend that cannot be asked costs this assignment, not the start
      const devs = await orWarn(ctx, `${vm.name}: ${devclass} devices of ${a.backend}:${a.port} assigned (${a.mode}) not looked at`, () => devicesOf(ctx, a, devclass));
      for (const dev of devs ?? []) {
        if (dev.unknown || picked.has(portText(dev))) continue;
        if (!matches(assignmentDevice(a, devclass), dev)) {
          ctx.warn(`${vm.name}: unrecognized identity at ${portText(dev)} (${dev.deviceId}, assigned ${a.identity}): not attached`);
          continue;
        }
        const elsewhere = await orWarn(ctx, `${vm.name}: ${devclass} device ${portText(dev)} assigned (${a.mode}) was not attached`, () => attachedElsewhere(ctx.svc, ctx.app, dev, vm).then((other) => other !== undefined));
        if (elsewhere !== false) continue;
        picked.set(portText(dev), { dev, assignment: a });
      }
    }
    for (const { dev, assignment } of picked.values()) await attachFor(ctx, vm, dev, assignment, false);
  }
}

/** `step`'s result, or undefined with a warning `what: MESSAGE` when it fails (an auto-attach never fails a start). */
async function orWarn<T>(ctx: AutoAttach, what: string, step: () => Promise<T>): Promise<T | undefined> {
  try {
    return await step();
  } catch (e) {
    ctx.warn(`${what}: ${(e as Error).message}`);
    return undefined;
  }
}

/**
 * Devices that just appeared on a backend: each goes to the running qube
 * whose assignment matches it; with several such qubes, to the one the
 * user chooses (nobody when nobody is chosen).
 */
export async function attachAppeared(ctx: AutoAttach, added: DeviceInfo[]): Promise<void> {
  const frontends = ctx.app.domains
    .sorted()
    .filter((vm) => vm.klass !== 'AdminVM' && vm.klass !== 'RemoteVM' && ctx.svc.enumerator.isRunning(vm));
  for (const dev of added) {
    const wanting = new Map<QubesVM, DeviceAssignment>();
    for (const vm of frontends) {
      const [best] = mostSpecificFirst(assignmentsOf(vm, dev.devclass).filter((a) => matches(assignmentDevice(a, dev.devclass), dev)));
      if (best) wanting.set(vm, best);
    }
    if (wanting.size === 0 || (await attachedElsewhere(ctx.svc, ctx.app, dev))) continue;
    if (wanting.size === 1) {
      const [[vm, assignment]] = [...wanting] as [[QubesVM, DeviceAssignment]];
      await attachFor(ctx, vm, dev, assignment, false);
      continue;
    }
    const names = [...wanting.keys()].map((vm) => vm.name);
    const chosen = await ctx.confirm({ source: dev.backend, deviceName: describe(dev, ctx.svc.enumerator.hw), port: dev.portId, targets: names });
    const target = [...wanting].find(([vm]) => vm.name === chosen);
    if (target) await attachFor(ctx, target[0], dev, target[1], true);
  }
}

/**
 * The start path's step (qvm-start and the daemon's admin.vm.Start): does
 * nothing, and costs nothing, for a qube without such assignments; else
 * the qube's state is fetched again (the start just changed it).
 */
export async function attachAtStart(app: Qubes, vm: QubesVM, session: Pick<Session, 'env' | 'hostRoots' | 'warn'>): Promise<void> {
  if (!vm.devices.some((d) => d.devclass !== 'pci' && d.assignments.some((a) => a.mode !== 'required'))) return;
  const ctx = autoAttachContext(app, session);
  const refreshed = await orWarn(ctx, `${vm.name}: its assigned devices were not attached`, () => app.vmm.refresh([vm]).then(() => true));
  if (!refreshed) return;
  await attachAssignedAtStart(ctx, vm);
}
