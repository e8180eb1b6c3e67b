// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Row: what the qvm-ls columns, filters and tree need about one qube, each
 * piece fetched at most once and only when a column or filter asks for it,
 * so the default listing never touches the hypervisor data or disk images
 * it does not show. Also the two lenient readers of qube values that
 * listing shares (`prop`, `featureTrue`).
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import { VmmError } from '../errors.js';
import type { PropValue } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';
import type { DomainInfo, Vmm } from '../vmm/vmm.js';
import type { DiskUsage } from './disk-usage.js';

/**
 * Own property value, or undefined where the class has no such property or
 * its default needs the hypervisor, which is unavailable: a listing shows
 * `-` there instead of failing. Any other error propagates.
 */
export function prop(vm: QubesVM, name: string): PropValue | undefined {
  if (!vm.has(name)) return undefined;
  try {
    return vm.get(name);
  } catch (e) {
    if (e instanceof VmmError) return undefined;
    throw e;
  }
}

// the spellings the reference accepts as a true feature value
const TRUE_FEATURE = new Set(['1', 'true', 'True']);
export const featureTrue = (vm: QubesVM, f: string): boolean => TRUE_FEATURE.has(vm.features.get(f) ?? '');

export class Row {
  private infoCache: DomainInfo | undefined;
  private usage: Map<string, number | undefined> | undefined;
  constructor(
    readonly vm: QubesVM,
    private readonly vmm: Pick<Vmm, 'info'>,
    private readonly disk: DiskUsage,
  ) {}
  get info(): DomainInfo {
    return (this.infoCache ??= this.vmm.info(this.vm));
  }
  volume(name: string): VolumeConfig | undefined {
    return this.vm.volumeConfig.find((v) => volumeAttr(v, 'name') === name);
  }
  /** Allocated MiB of a volume (see DiskUsage.of); cached because DISK and the *-CURR/*-USED columns ask again. */
  volumeUsage(v: VolumeConfig): number | undefined {
    this.usage ??= new Map();
    const vid = volumeAttr(v, 'vid') ?? '';
    const key = `${volumeAttr(v, 'pool')}\0${vid}`;
    if (!this.usage.has(key)) this.usage.set(key, this.disk.of(v));
    return this.usage.get(key);
  }
}
