// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The hypervisor through libvirt. Nothing connects until something asks
 * for runtime state; then one CONNECT_GET_ALL_DOMAIN_STATS call (state and
 * balloon of every domain) answers for all qubes at once, with the host's
 * node info fetched alongside. Daemons without that call get one listing
 * and the states of the active domains, sent together.
 *
 * Qubes are matched to domains by UUID, as the reference looks them up: a
 * domain of the same name but another UUID is not this qube (and would make
 * its start fail at define time).
 *
 * Reference: qubes-core-admin qubes/app.py VMMConnection, qubes/vm/qubesvm.py
 * get_power_state; shared/spec/vmm.md §1.2, §3.1.
 */
import type { Env } from '../config.js';
import { LibvirtUnsupportedError, VmmError } from '../errors.js';
import { StatsTypes } from './libvirt/constants.js';
import { LibvirtConnection } from './libvirt/connection.js';
import { parseLibvirtUri, socketEnv } from './libvirt/uri.js';
import type { DomainRef, NodeInfo } from './libvirt/procedures.js';
import { fullyUsable, powerState } from './power-state.js';
import { readStartTime } from './start-time.js';
import { askHypervisor, fixedInfo } from './fixed-state.js';
import type { DomainInfo, Vmm, VmHandle } from './vmm.js';

interface LiveDomain {
  dom: DomainRef;
  state: number;
  /** KiB, when the driver reports it. */
  memoryKiB?: number;
}

const HALTED: DomainInfo = { state: 'Halted', xid: -1 };
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined);

export class LibvirtVmm implements Vmm {
  readonly offline = false;
  private conn: LibvirtConnection | undefined;
  private live: Map<string, LiveDomain> | undefined;
  private host: NodeInfo | undefined;
  constructor(
    readonly uri: string,
    private readonly runDir: string,
    /** The command's environment: a session URI's socket is in its XDG_RUNTIME_DIR. */
    private readonly env: Env = {},
  ) {}

  /**
   * The shared libvirt connection of this command (not yet connected: the
   * first call connects).
   * @throws VmmError for a URI this client cannot use
   */
  libvirt(): LibvirtConnection {
    return (this.conn ??= new LibvirtConnection(parseLibvirtUri(this.uri, socketEnv(this.env))));
  }

  async refresh(vms: VmHandle[]): Promise<void> {
    if (!vms.some(askHypervisor)) return;
    const c = this.libvirt();
    const [live, host] = await Promise.all([this.fetchLive(c), c.nodeInfo()]);
    this.live = live;
    this.host = host;
  }

  private async fetchLive(c: LibvirtConnection): Promise<Map<string, LiveDomain>> {
    const out = new Map<string, LiveDomain>();
    try {
      for (const r of await c.allDomainStats(StatsTypes.State | StatsTypes.Balloon)) {
        const balloon = num(r.params.get('balloon.current'));
        out.set(r.dom.uuid, { dom: r.dom, state: num(r.params.get('state.state')) ?? 0, memoryKiB: balloon });
      }
      return out;
    } catch (e) {
      if (!(e instanceof LibvirtUnsupportedError)) throw e;
    }
    const doms = await c.listAllDomains();
    const infos = await Promise.all(doms.map((d) => (d.id >= 0 ? c.getInfo(d).catch(() => undefined) : undefined)));
    doms.forEach((dom, i) => {
      const info = infos[i];
      out.set(dom.uuid, { dom, state: info?.state ?? 5, memoryKiB: info ? Number(info.memory) : undefined });
    });
    return out;
  }

  info(vm: VmHandle): DomainInfo {
    const fixed = fixedInfo(vm);
    if (fixed && vm.klass === 'AdminVM') {
      // dom0's memory is the one thing libvirt knows about it
      const d0 = this.live && [...this.live.values()].find((d) => d.dom.id === 0);
      return d0?.memoryKiB !== undefined ? { ...fixed, memoryMiB: Math.floor(d0.memoryKiB / 1024) } : fixed;
    }
    if (fixed) return fixed;
    if (!this.live) throw new VmmError(`Runtime state of ${vm.name} was not fetched from ${this.uri}`);
    const d = vm.uuid ? this.live.get(vm.uuid.toLowerCase()) : undefined;
    if (!d) return HALTED;
    const active = d.dom.id >= 0;
    const state = powerState(active, d.state, () => fullyUsable(vm, this.runDir));
    if (state === 'Halted') return HALTED;
    return {
      state,
      xid: d.dom.id,
      memoryMiB: d.memoryKiB !== undefined ? Math.floor(d.memoryKiB / 1024) : undefined,
      startTime: readStartTime(this.runDir, vm.name),
    };
  }

  isXen(): boolean {
    return this.libvirt().uri.driver === 'xen';
  }

  hostMemoryMiB(): number {
    if (!this.host) throw new VmmError(`Host memory was not fetched from ${this.uri}`);
    return Math.floor(Number(this.host.memory) / 1024);
  }

  async close(): Promise<void> {
    await this.conn?.close();
  }
}
