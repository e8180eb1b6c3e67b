// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Carrying out, over a QubesDB connection, what start-entries.ts computes:
 * a started qube's entries, and the firewall export of a net qube's
 * clients (after a rule change or expiry, or when a client starts).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (create_qdb_entries),
 * qubes/vm/mix/net.py (on_firewall_changed, reload_firewall_for_vm).
 */
import type { Qubes } from '../../app/app.js';
import { applyQdbOps, type QubesDbWriter } from '../../firewall/qubesdb-export.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { hostStartRuntime } from './host-runtime.js';
import { clientNetworkOps, startOps, type StartRuntime } from './start-entries.js';

/**
 * Write the entries of qube `vm`, just started (or whose network changed),
 * into its QubesDB (`qdb` is a connection to its daemon).
 */
export async function writeStartEntries(qdb: QubesDbWriter, app: Qubes, vm: QubesVM, rt: StartRuntime = hostStartRuntime(app)): Promise<void> {
  await applyQdbOps(qdb, startOps(app, vm, rt));
}

/**
 * Write into running net qube `netvm`'s QubesDB (`qdb`) the addresses of
 * its clients and, for each running client (or only those in `clients`),
 * its mapped-ip entries and firewall rules.
 */
export async function exportFirewall(
  qdb: QubesDbWriter,
  app: Qubes,
  netvm: QubesVM,
  rt: StartRuntime = hostStartRuntime(app),
  clients?: readonly QubesVM[],
): Promise<void> {
  await applyQdbOps(qdb, clientNetworkOps(app, netvm, rt, clients));
}
