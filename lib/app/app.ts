// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The whole store in memory: labels, pools, global properties and the qube
 * collection, with the operations that span qubes (qid allocation, who uses
 * a qube, adding and removing). Reading and writing qubes.xml live in
 * qubes-xml-read.ts / qubes-xml-write.ts, locking in store.ts.
 *
 * Reference: qubes-core-admin: qubes/app.py (Qubes, VMCollection);
 * shared/spec/store-and-core-tools.md §2.2, §3, §10.2.
 */
import { MAX_QID } from '../config.js';
import { QubesError, QubesPropertyValueError, QubesVMInUseError, QubesValueError } from '../errors.js';
import type { XmlElement } from '../util/xml-reader.js';
import {
  getProperty,
  isDefault,
  resetProperty,
  setProperty,
  type PropValue,
  type AnyPropertyDef,
  type PropertyHolder,
} from '../vm/property.js';
import type { QubeCollection } from '../vm/collection.js';
import { QubesVM, type VmClass } from '../vm/qubes-vm.js';
import type { Vmm } from '../vmm/vmm.js';
import { GLOBAL_PROPERTY_MAP } from './global-properties.js';
import { Labels } from './labels.js';

/** A storage pool as the store records it: its driver config, attribute order kept. */
export class Pool {
  constructor(readonly attrs: [string, string][]) {}
  get name(): string {
    return this.attr('name') ?? '';
  }
  get driver(): string {
    return this.attr('driver') ?? '';
  }
  attr(key: string): string | undefined {
    return this.attrs.find(([k]) => k === key)?.[1];
  }
}

/** Where a qube is referenced: a global property (holder null) or another qube's. */
export interface Usage {
  holder: QubesVM | null;
  prop: string;
}

export class VMCollection {
  private readonly byName = new Map<string, QubesVM>();
  private readonly byQid = new Map<number, QubesVM>();

  get(name: string): QubesVM | undefined {
    return this.byName.get(name);
  }
  getByQid(qid: number): QubesVM | undefined {
    return this.byQid.get(qid);
  }
  get size(): number {
    return this.byName.size;
  }

  /** @throws QubesValueError on duplicate name or qid */
  add(vm: QubesVM): void {
    if (this.byName.has(vm.name)) throw new QubesValueError(`Qube already exists: ${vm.name}`);
    if (this.byQid.has(vm.qid)) throw new QubesValueError(`Duplicate qid ${vm.qid} (${this.byQid.get(vm.qid)?.name} and ${vm.name})`);
    this.byName.set(vm.name, vm);
    this.byQid.set(vm.qid, vm);
  }

  delete(vm: QubesVM): void {
    this.byName.delete(vm.name);
    this.byQid.delete(vm.qid);
  }

  /** Insertion order (the file's order after load). */
  all(): QubesVM[] {
    return [...this.byName.values()];
  }

  /** By name, codepoint order, as every listing and the writer want. */
  sorted(): QubesVM[] {
    // Names are ASCII (validateVmName), so the default UTF-16 order is codepoint order.
    return [...this.byName.keys()].sort().map((n) => this.byName.get(n) as QubesVM);
  }

  /** Qubes whose (effective) netvm is `vm`. */
  connectedTo(vm: QubesVM): QubesVM[] {
    return this.all().filter((v) => v.has('netvm') && v.get('netvm') === vm.name);
  }
}

export class Qubes implements PropertyHolder, QubeCollection {
  readonly labels: Labels;
  readonly pools = new Map<string, Pool>();
  readonly props = new Map<string, string>();
  readonly defs = GLOBAL_PROPERTY_MAP;
  readonly domains = new VMCollection();
  /** Root children this version does not know; written back as read. */
  extraElements: XmlElement[] = [];
  loading = false;
  /** The installer's thin pool (VG/THINPOOL), which the default pool prefers; from the command's settings. */
  defaultLvmPool?: string;

  constructor(
    readonly vmm: Vmm,
    readonly baseDir: string,
    labels?: Labels,
  ) {
    this.labels = labels ?? new Labels();
  }

  get(name: string): PropValue | undefined {
    return getProperty(this, name);
  }
  isDefault(name: string): boolean {
    return isDefault(this, name);
  }
  set(name: string, untrusted: string): void {
    setProperty(this, name, untrusted);
  }
  reset(name: string): void {
    resetProperty(this, name);
  }

  resolveReference(def: AnyPropertyDef, value: string): string {
    if (def.type === 'label') return this.labels.get(value).name;
    if (def.type === 'vm' && !this.domains.get(value))
      throw new QubesPropertyValueError(`Can't set ${def.name} to non-existing qube ${value}`);
    if (def.type === 'pool' && !this.pools.has(value)) throw new QubesPropertyValueError(`No such storage pool: ${value}`);
    return value;
  }

  get adminVm(): QubesVM | undefined {
    return this.domains.getByQid(0);
  }

  /** Smallest unused qid in 1..9999; freed qids are reused at once. */
  allocateQid(): number {
    for (let q = 1; q < MAX_QID; q++) if (!this.domains.getByQid(q)) return q;
    throw new QubesError('Cannot find unused qid!');
  }

  /** A new qube record (not yet in the collection). */
  newVm(klass: VmClass): QubesVM {
    return new QubesVM(this, klass);
  }

  /**
   * Every reference that keeps `vm` in use: any global property naming it
   * (default or not), and any non-default property of another qube.
   */
  usagesOf(vm: QubesVM): Usage[] {
    const out: Usage[] = [];
    for (const def of this.defs.values()) {
      if (def.type === 'vm' && this.get(def.name) === vm.name) out.push({ holder: null, prop: def.name });
    }
    for (const other of this.domains.sorted()) {
      if (other === vm) continue;
      for (const [name, raw] of other.props) {
        const def = other.defs.get(name);
        if (def?.type === 'vm' && raw === vm.name) out.push({ holder: other, prop: name });
      }
    }
    return out;
  }

  /**
   * Remove a qube from the collection. Refuses dom0, qubes installed by the
   * package manager and qubes still in use (any global property naming it,
   * even by default, blocks removal, so no global needs resetting). Disk
   * data is the storage layer's business.
   * @throws QubesVMInUseError (with the usages), QubesError
   */
  removeVm(vm: QubesVM): void {
    if (vm.klass === 'AdminVM') throw new QubesError(`Domain '${vm.name}' cannot be removed.`);
    if (vm.has('installed_by_rpm') && vm.get('installed_by_rpm') === true) throw new QubesError(`VM installed by package manager: ${vm.name}`);
    const usages = this.usagesOf(vm);
    if (usages.length > 0)
      throw new QubesVMInUseError(
        `Domain is in use: '${vm.name}'`,
        usages.map((u) => ({ holder: u.holder?.name ?? null, prop: u.prop })),
      );
    for (const other of this.domains.all()) {
      for (const dev of other.devices) {
        if (other !== vm && dev.assignments.some((a) => a.backend === vm.name))
          throw new QubesVMInUseError(`Domain is in use: '${vm.name}' provides devices assigned to ${other.name}`);
      }
    }
    this.domains.delete(vm);
  }
}
