// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A hypervisor for tests of code that only reads runtime state (domain XML
 * rendering): Xen or not, a host memory size, and the xids of the qubes
 * said to be running. Everything else throws, as a missing feature should.
 */
import type { LibvirtConnection } from '../../lib/vmm/libvirt/connection.js';
import type { DomainInfo, Vmm, VmHandle } from '../../lib/vmm/vmm.js';

export class FakeVmm implements Vmm {
  readonly offline = false;
  constructor(
    readonly uri: string,
    private readonly running: Record<string, number> = {},
    private readonly hostMiB = 16000,
  ) {}
  async refresh(): Promise<void> {}
  info(vm: VmHandle): DomainInfo {
    if (vm.klass === 'AdminVM') return { state: 'Running', xid: 0 };
    const xid = this.running[vm.name];
    return xid === undefined ? { state: 'Halted', xid: -1 } : { state: 'Running', xid };
  }
  isXen(): boolean {
    return this.uri.startsWith('xen');
  }
  hostMemoryMiB(): number {
    return this.hostMiB;
  }
  libvirt(): LibvirtConnection {
    throw new Error('FakeVmm has no libvirt connection');
  }
  async close(): Promise<void> {}
}
