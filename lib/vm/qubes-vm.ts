// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube: its class, stored properties, features, tags, device assignments
 * and volume configuration. Which properties exist, their defaults and
 * checks live in vm-properties.ts; this class applies them.
 *
 * Reference: qubes-core-admin: qubes/vm/__init__.py, qubes/vm/qubesvm.py;
 * shared/spec/store-and-core-tools.md §2.
 */
import { parseAttrs, type XmlElement } from '../util/xml-reader.js';
import type { QubeCollection } from './collection.js';
import type { DeviceClassAssignments } from './devices.js';
import { Features, type FeatureSource } from './features.js';
import {
  getProperty,
  isDefault,
  resetProperty,
  setProperty,
  type PropValue,
  type AnyPropertyDef,
  type PropertyDef,
  type PropertyHolder,
} from './property.js';
import { Tags } from './tags.js';
import { propertiesFor, type VmClass } from './vm-properties.js';
import type { VolumeConfig } from './volume-config.js';

export type { VmClass };

export class QubesVM implements PropertyHolder, FeatureSource {
  readonly props = new Map<string, string>();
  readonly features = new Features();
  readonly tags = new Tags();
  devices: DeviceClassAssignments[] = [];
  private volumes: VolumeConfig[] = [];
  /** `<volume>` attribute text as loaded; parsed on first use (most commands never look). */
  private rawVolumes: string[] | undefined;
  /** Child elements of `<domain>` this version does not know; written back as read. */
  extraElements: XmlElement[] = [];
  readonly defs: ReadonlyMap<string, PropertyDef<QubesVM>>;

  constructor(
    readonly app: QubeCollection,
    readonly klass: VmClass,
  ) {
    this.defs = propertiesFor(klass);
  }

  get volumeConfig(): VolumeConfig[] {
    if (this.rawVolumes) {
      this.volumes = this.rawVolumes.map(parseAttrs);
      this.rawVolumes = undefined;
    }
    return this.volumes;
  }
  set volumeConfig(v: VolumeConfig[]) {
    this.volumes = v;
    this.rawVolumes = undefined;
  }
  setRawVolumes(raw: string[]): void {
    this.rawVolumes = raw;
  }
  /** The `<volume>` attribute text as loaded, while nobody has looked at it (for the writer). */
  untouchedVolumeText(): readonly string[] | undefined {
    return this.rawVolumes;
  }

  get loading(): boolean {
    return this.app.loading;
  }

  get name(): string {
    return this.klass === 'AdminVM' ? 'dom0' : (this.props.get('name') as string);
  }

  /** The libvirt domain UUID (every loaded or new qube has one). */
  get uuid(): string | undefined {
    return this.klass === 'AdminVM' ? '00000000-0000-0000-0000-000000000000' : this.props.get('uuid');
  }

  get qid(): number {
    return this.klass === 'AdminVM' ? 0 : Number(this.props.get('qid'));
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  get(name: string): PropValue | undefined {
    return getProperty(this, name);
  }

  isDefault(name: string): boolean {
    return isDefault(this, name);
  }

  /** A VM-typed property resolved to the qube it names (null: none or unset). */
  vmRef(name: string): QubesVM | null {
    if (!this.defs.has(name)) return null;
    const v = this.get(name);
    return typeof v === 'string' ? (this.app.domains.get(v) ?? null) : null;
  }

  /** May disposables be started from this qube? Only classes with template_for_dispvms can say yes. */
  isDispvmTemplate(): boolean {
    return this.defs.has('template_for_dispvms') && this.get('template_for_dispvms') === true;
  }

  templateVm(): QubesVM | null {
    return this.vmRef('template');
  }

  /** Whether the qube can be a netvm: dom0 and others without the property cannot. */
  providesNetwork(): boolean {
    return this.has('provides_network') && this.get('provides_network') === true;
  }

  netvmVm(): QubesVM | null {
    return this.vmRef('netvm');
  }

  /** Value a template-based qube inherits: the template's, else `fallback`. */
  fromTemplate(name: string, fallback: () => PropValue | undefined): PropValue | undefined {
    const t = this.templateVm();
    return t && t.has(name) ? t.get(name) : fallback();
  }

  /** @see setProperty */
  set(name: string, untrusted: string): void {
    setProperty(this, name, untrusted);
  }

  /** @see resetProperty */
  reset(name: string): void {
    resetProperty(this, name);
  }

  resolveReference(def: AnyPropertyDef, value: string): string {
    return this.app.resolveReference(def, value);
  }

  toString(): string {
    return this.name;
  }
}
