// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Memory and CPU figures of running domains, measured as the reference
 * measures them through libvirt (without its direct Xen calls): each
 * active domain's info (maximum and current memory, online vCPUs, CPU
 * time), and its CPU usage as the percentage of the wall-clock time since
 * the previous measurement that it spent running, per online vCPU (0 at
 * the first measurement of a domain, and after a restart).
 *
 * What libvirt does not tell, and the reference reads from Xen and
 * xenstore: the memory a qube says it uses with its swap (meminfo,
 * swapinfo), and the figures of an HVM qube's device-model stub domain.
 *
 * Reference: qubes-core-admin: qubes/app.py QubesHost.get_vm_stats.
 */
import { LibvirtNoDomainError, LibvirtOperationInvalidError } from '../errors.js';
import { DomainState, ListDomainsFlags } from './libvirt/constants.js';
import type { LibvirtConnection } from './libvirt/connection.js';
import type { DomainRef } from './libvirt/procedures.js';

export interface DomainStats {
  /** libvirt's UUID of the domain, lower case. */
  uuid: string;
  /** The domain's id (0: the control domain, dom0 under Xen). */
  id: number;
  /** Memory the domain may grow to, KiB. */
  maxMemoryKiB: number;
  /** Memory the domain has now, KiB. */
  memoryKiB: number;
  onlineVcpus: number;
  /** CPU time used since the domain started, ns. */
  cpuTimeNs: bigint;
  /** Percent of one vCPU's time, averaged over the online vCPUs, since the previous measurement. */
  cpuUsage: number;
}

interface Sample {
  dom: DomainRef;
  maxMem: bigint;
  memory: bigint;
  vcpus: number;
  cpuTime: bigint;
}

/** Successive measurements over one connection; each CPU usage is relative to the one before. */
export class DomainStatsMeter {
  private previous: { at: number; cpuTime: Map<number, bigint> } | undefined;

  constructor(private readonly conn: LibvirtConnection) {}

  /**
   * Every active domain, or only the one of this UUID (none when it is not
   * running). A domain that stops while it is measured is left out.
   * @throws LibvirtError when libvirt cannot list the domains
   */
  async measure(onlyUuid?: string): Promise<DomainStats[]> {
    const at = performance.now();
    const doms = onlyUuid === undefined ? await this.conn.listAllDomains(ListDomainsFlags.Active) : await this.lookup(onlyUuid);
    const samples = (await Promise.all(doms.filter((d) => d.id >= 0).map((d) => this.sample(d)))).filter((s) => s !== undefined);
    const prev = this.previous;
    this.previous = { at, cpuTime: new Map(samples.map((s) => [s.dom.id, s.cpuTime])) };
    // percent of wall-clock time per CPU-time nanosecond, as the reference computes it
    const perNs = prev && at > prev.at ? 100 / ((at - prev.at) / 1000) / 1e9 : undefined;
    return samples.map((s) => {
      const before = prev?.cpuTime.get(s.dom.id);
      // a domain restarted with the same id has used less than before: 0, as the reference
      const raw = perNs !== undefined && before !== undefined ? Math.max(0, Math.round(Number(s.cpuTime - before) * perNs)) : 0;
      return {
        uuid: s.dom.uuid,
        id: s.dom.id,
        maxMemoryKiB: Number(s.maxMem),
        memoryKiB: Number(s.memory),
        onlineVcpus: s.vcpus,
        cpuTimeNs: s.cpuTime,
        cpuUsage: s.vcpus > 0 ? Math.floor(raw / s.vcpus) : 0,
      };
    });
  }

  private async lookup(uuid: string): Promise<DomainRef[]> {
    try {
      return [await this.conn.lookupByUuid(uuid)];
    } catch (e) {
      if (e instanceof LibvirtNoDomainError) return [];
      throw e;
    }
  }

  private async sample(dom: DomainRef): Promise<Sample | undefined> {
    try {
      const info = await this.conn.getInfo(dom);
      if (info.state === DomainState.Shutoff) return undefined;
      return { dom, maxMem: info.maxMem, memory: info.memory, vcpus: info.nrVirtCpu, cpuTime: info.cpuTime };
    } catch (e) {
      // gone (a transient domain) or stopped between the listing and this call
      if (e instanceof LibvirtNoDomainError || e instanceof LibvirtOperationInvalidError) return undefined;
      throw e;
    }
  }
}
