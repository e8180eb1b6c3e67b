// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.Stats: `connection-established`, then every `stats_interval`
 * seconds (the system property, read at each round) one `vm-stats` event
 * per running qube, or for the destination qube only, until the client
 * goes away. A destination qube that is not running ends the stream with
 * QubesVMNotRunningError, at the first round or a later one, as in the
 * reference. Domains of the hypervisor that are no qube of the store are
 * not reported.
 *
 * The fields, in the reference's order: memory_kb (the memory the qube has,
 * KiB), memory_assigned_total (the memory it may grow to),
 * memory_assigned_usable, memory_with_swap_used (both the memory it has:
 * what the qube itself reports is not known here), cpu_time (ms),
 * cpu_usage (percent per vCPU since the previous round, 0 at the first),
 * online_vcpus. See lib/vmm/domain-stats.ts for what is measured.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_stats,
 * _send_stats_single), qubes/app.py (QubesHost.get_vm_stats).
 */
import type { Qubes } from '../../app/app.js';
import { QubesVMNotRunningError } from '../../errors.js';
import { getProperty } from '../../vm/property.js';
import { DomainStatsMeter, type DomainStats } from '../../vmm/domain-stats.js';
import type { Call } from '../method.js';
import type { EventFields } from '../wire.js';

function fields(s: DomainStats): EventFields {
  return [
    ['memory_kb', String(s.memoryKiB)],
    ['memory_assigned_total', String(s.maxMemoryKiB)],
    ['memory_assigned_usable', String(s.memoryKiB)],
    ['memory_with_swap_used', String(s.memoryKiB)],
    ['cpu_time', String(s.cpuTimeNs / 1_000_000n)],
    ['cpu_usage', String(s.cpuUsage)],
    ['online_vcpus', String(s.onlineVcpus)],
  ];
}

/** The qube of each domain: by UUID, and the control domain (id 0) is dom0. */
function qubeNames(app: Qubes): (s: DomainStats) => string | undefined {
  const byUuid = new Map(app.domains.all().flatMap((vm) => (vm.uuid ? [[vm.uuid.toLowerCase(), vm.name] as const] : [])));
  return (s) => (s.id === 0 ? 'dom0' : byUuid.get(s.uuid));
}

/** Wait `ms`, or less when the client goes away first. */
function pause(ms: number, closed: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), closed]).finally(() => clearTimeout(timer));
}

export async function statsHandler(call: Call): Promise<void> {
  const only = call.dest.klass === 'AdminVM' ? undefined : call.dest;
  let gone = false;
  void call.closed.then(() => (gone = true));
  call.sendEvent('', 'connection-established');
  const meter = new DomainStatsMeter(call.app.vmm.libvirt());
  while (!gone) {
    const app = call.services.current();
    const stats = !only ? await meter.measure() : only.uuid ? await meter.measure(only.uuid.toLowerCase()) : [];
    if (only && stats.length === 0) throw new QubesVMNotRunningError(`Domain not running (either powered off or paused): '${only.name}'`);
    const nameOf = qubeNames(app);
    for (const s of stats) {
      const name = only ? only.name : nameOf(s);
      if (name !== undefined && !gone) call.sendEvent(name, 'vm-stats', fields(s));
    }
    await pause(Number(getProperty(app, 'stats_interval')) * 1000, call.closed);
  }
}
