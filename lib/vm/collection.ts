// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What a qube needs from the collection it belongs to: the other qubes,
 * the global properties, its label's names, the base directory and the
 * hypervisor's facts about it. The store (lib/app/app.ts, Qubes) implements
 * it; the domain model depends on this interface only, never on the store.
 */
import type { AnyPropertyDef, PropValue } from './property.js';
import type { QubesVM } from './qubes-vm.js';

/** A qube's runtime state as the hypervisor last reported it (lib/vmm/vmm.ts DomainInfo). */
export interface QubeRuntime {
  state: string;
  /** -1 when not running. */
  xid: number;
  memoryMiB?: number;
  startTime?: string;
}

/** What properties ask the hypervisor (the defaults of maxmem, the runtime properties). */
export interface RuntimeFacts {
  readonly offline: boolean;
  info(vm: QubesVM): QubeRuntime;
  isXen(): boolean;
  /** Host memory in MiB. */
  hostMemoryMiB(): number;
}

export interface QubeCollection {
  /** While the store loads: references may point at qubes not read yet, setters check less. */
  readonly loading: boolean;
  /** The base directory of qube directories and kernels (QUBES_BASE_DIR). */
  readonly baseDir: string;
  readonly domains: {
    get(name: string): QubesVM | undefined;
    /** The qubes whose netvm is `vm`. */
    connectedTo(vm: QubesVM): QubesVM[];
  };
  readonly adminVm: QubesVM | undefined;
  readonly labels: { get(ref: string): { name: string } };
  readonly vmm: RuntimeFacts;
  /** A global property's value. */
  get(name: string): PropValue | undefined;
  /** A reference property's value checked against the collection (a label, qube or pool that exists). */
  resolveReference(def: AnyPropertyDef, value: string): string;
  /** Where `vm` is used: properties of other qubes or global ones that name it. */
  usagesOf(vm: QubesVM): { holder: QubesVM | null; prop: string }[];
}
