// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Settings of running qubes that follow a change at once, as the
 * reference's qubesd does on its events (the daemon calls these when its
 * store reload shows the change, whoever made it):
 *
 *   - a `service.*` or `vm-config.*` feature set or removed: the qube's
 *     `/qubes-service/*` (and `/hash-app-dispvm/*`) or `/vm-config/*`
 *     entries;
 *   - another net qube: the qube's interface detached from its libvirt
 *     domain (Xen; a QEMU domain has none), the old net qube's list of
 *     connected addresses, the new one's, the qube's own entries written
 *     again (addresses, DNS, everything of a start), its interface
 *     attached for the new net qube, and its mapped addresses and firewall
 *     rules loaded into the new net qube.
 *
 * "Running" is the hypervisor's answer, as for the reference (offline:
 * nothing runs). A running qube whose QubesDB does not answer is warned
 * about and skipped.
 *
 * Reference: qubes-core-admin: qubes/ext/services.py,
 * qubes/ext/vm_config.py (domain-feature-set/-delete handlers),
 * qubes/vm/mix/net.py (property-pre-set:netvm, property-set:netvm,
 * attach_network, detach_network, reload_connected_ips,
 * set_mapped_ip_info_for_vm, net-domain-connect).
 */
import type { Qubes } from '../app/app.js';
import type { Env } from '../config.js';
import { DisconnectedError, LibvirtNoDomainError } from '../errors.js';
import { applyQdbOps, type QdbOp } from '../firewall/qubesdb-export.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { interfaceXml, liveInterfaceXml } from '../vmm/domain-xml/net-interface.js';
import { flavourFor } from '../vmm/domain-xml/render.js';
import { DeviceModifyFlags } from '../vmm/libvirt/constants.js';
import { isRunningState } from '../vmm/power-state.js';
import { QubesDbClient } from '../vmm/qubesdb/client.js';
import { hostStartRuntime } from '../vmm/qubesdb/host-runtime.js';
import { clientNetworkOps, featureChangeOps, startOps } from '../vmm/qubesdb/start-entries.js';

type Warn = (m: string) => void;

/** Carry out `ops` in qube `name`'s QubesDB; false when its daemon does not answer (warned). */
async function intoQubesDb(name: string, ops: readonly QdbOp[], env: Env, warn: Warn): Promise<boolean> {
  if (ops.length === 0) return true;
  let qdb: QubesDbClient;
  try {
    qdb = await QubesDbClient.open(name, { env });
  } catch (e) {
    if (!(e instanceof DisconnectedError)) throw e;
    warn(`cannot update the QubesDB of ${name}: its daemon does not answer`);
    return false;
  }
  try {
    await applyQdbOps(qdb, ops);
  } finally {
    qdb.close();
  }
  return true;
}

const runs = (app: Qubes, vm: QubesVM): boolean => vm.klass === 'AdminVM' || isRunningState(app.vmm.info(vm).state);

/**
 * Features of qube `vm` changed (name → new value, undefined when
 * removed): write what its running QubesDB shows of them. Returns whether
 * anything was written.
 */
export async function followFeatureChanges(app: Qubes, vm: QubesVM, changes: ReadonlyMap<string, string | undefined>, env: Env, warn: Warn): Promise<boolean> {
  const ops = [...changes].flatMap(([feature, value]) => featureChangeOps(feature, value));
  if (ops.length === 0 || app.vmm.offline || vm.klass === 'AdminVM') return false;
  await app.vmm.refresh([vm]);
  if (!runs(app, vm)) return false;
  return intoQubesDb(vm.name, ops, env, warn);
}

/**
 * Qube `vm`'s net qube changed from `oldNetvm` to its current one: follow
 * it in libvirt and in the QubesDB of the qube and of both net qubes, each
 * where it runs.
 */
export async function followNetvmChange(app: Qubes, vm: QubesVM, oldNetvm: QubesVM | null, env: Env, warn: Warn): Promise<void> {
  if (app.vmm.offline || vm.klass === 'AdminVM') return;
  const netvm = vm.netvmVm();
  if (oldNetvm?.name === netvm?.name) return;
  await app.vmm.refresh(app.domains.all());
  const rt = hostStartRuntime(app, { env });
  const running = runs(app, vm);
  const paused = running && app.vmm.info(vm).state === 'Paused';
  const conn = running ? app.vmm.libvirt() : undefined;
  const dom = conn && (await conn.lookupByUuid(vm.uuid as string).catch((e: unknown) => (e instanceof LibvirtNoDomainError ? undefined : Promise.reject(e))));
  // the old interface goes first (a paused qube keeps it: the reference defers that case)
  if (conn && dom && !paused) {
    const eth = liveInterfaceXml(await conn.getXmlDesc(dom));
    if (eth) await conn.detachDevice(dom, eth, DeviceModifyFlags.Live);
  }
  if (oldNetvm && runs(app, oldNetvm)) await intoQubesDb(oldNetvm.name, clientNetworkOps(app, oldNetvm, rt, []), env, warn);
  // without a net qube the qube keeps its entries until its next start, as in the reference
  if (!netvm) return;
  if (!runs(app, netvm)) {
    if (running) warn(`${vm.name} is not connected to ${netvm.name}: ${netvm.name} is not running`);
    return;
  }
  if (!running) {
    await intoQubesDb(netvm.name, clientNetworkOps(app, netvm, rt, []), env, warn);
    return;
  }
  await intoQubesDb(vm.name, startOps(app, vm, rt), env, warn);
  // the new net qube learns the qube's addresses and rules before the interface appears
  await intoQubesDb(netvm.name, clientNetworkOps(app, netvm, rt, [vm]), env, warn);
  const iface = interfaceXml(vm, flavourFor(app.vmm.uri));
  if (conn && dom && iface && !paused) await conn.attachDevice(dom, iface, DeviceModifyFlags.Live);
}
