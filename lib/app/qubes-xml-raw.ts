// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubes.xml as raw records: labels, pools, global properties and each
 * domain's properties, features, tags, devices and volumes, as strings, in
 * one pass over the scanner's events (lib/util/xml-reader.ts). Nothing is
 * interpreted here; qubes-xml-read.ts applies the records in stages.
 */
import { attr, nameAttr, parseAttrs, TreeBuilder, type XmlElement, type XmlHandler } from '../util/xml-reader.js';

const KNOWN_ROOT = new Set(['labels', 'pools', 'properties', 'domains']);
const KNOWN_DOMAIN = new Set(['properties', 'features', 'tags', 'devices', 'volume-config']);

/** A `<domain>` as read, before its properties are applied in stages. */
export interface RawDomain {
  klass: string;
  /** Offset of `<domain`, for lineAt() in messages. */
  pos: number;
  props: [string, string][];
  features: [string, string][];
  tags: string[];
  devices: { devclass: string; devices: RawDevice[] }[];
  /** Raw attribute text of each `<volume>`, parsed only when used. */
  volumes: string[] | undefined;
  extras: XmlElement[];
}

export interface RawDevice {
  attrs: [string, string][];
  options: [string, string][];
}

export interface RawStore {
  root: string;
  labels: { attrs: [string, string][]; name: string; pos: number }[];
  pools: [string, string][][];
  globals: [string, string][];
  domains: RawDomain[];
  extras: XmlElement[];
}

/**
 * Collects the store from scanner events by element path; elements this
 * version does not know, at the root or in a domain, are kept as trees.
 */
export class RawStoreReader implements XmlHandler {
  readonly store: RawStore = { root: '', labels: [], pools: [], globals: [], domains: [], extras: [] };
  private readonly path: string[] = [];
  private capture: TreeBuilder | undefined;
  private buf = '';
  private pending: [string, string] | undefined;
  private domain: RawDomain | undefined;
  private device: RawDevice | undefined;

  open(name: string, rawAttrs: string, pos: number): void {
    if (this.capture) return this.capture.open(name, rawAttrs, pos);
    const depth = this.path.length;
    const parent = this.path[depth - 1];
    this.path.push(name);
    this.buf = '';
    if (depth === 0) {
      this.store.root = name;
    } else if (depth === 1) {
      if (!KNOWN_ROOT.has(name)) this.startCapture(name, rawAttrs, pos, this.store.extras);
    } else if (depth === 2) {
      if (parent === 'properties' && name === 'property') this.pending = propertyStart(rawAttrs);
      else if (parent === 'labels' && name === 'label') this.store.labels.push({ attrs: parseAttrs(rawAttrs), name: '', pos });
      else if (parent === 'pools' && name === 'pool') this.store.pools.push(parseAttrs(rawAttrs));
      else if (parent === 'domains' && name === 'domain') {
        const attrs = parseAttrs(rawAttrs);
        this.domain = { klass: attr({ attrs }, 'class') ?? '', pos, props: [], features: [], tags: [], devices: [], volumes: undefined, extras: [] };
        this.store.domains.push(this.domain);
      }
    } else if (this.domain) {
      const d = this.domain;
      if (depth === 3) {
        if (name === 'devices') d.devices.push({ devclass: attr({ attrs: parseAttrs(rawAttrs) }, 'class') ?? '', devices: [] });
        else if (name === 'volume-config') d.volumes = [];
        else if (!KNOWN_DOMAIN.has(name)) this.startCapture(name, rawAttrs, pos, d.extras);
      } else if (depth === 4) {
        if (parent === 'properties' && name === 'property') this.pending = propertyStart(rawAttrs);
        else if (parent === 'volume-config' && name === 'volume') d.volumes?.push(rawAttrs);
        else if (parent === 'features' && name === 'feature') this.pending = [nameAttr(rawAttrs) ?? '', ''];
        else if (parent === 'tags' && name === 'tag') d.tags.push(nameAttr(rawAttrs) ?? '');
        else if (parent === 'devices' && name === 'device') {
          this.device = { attrs: parseAttrs(rawAttrs), options: [] };
          d.devices[d.devices.length - 1]?.devices.push(this.device);
        }
      } else if (depth === 5 && parent === 'device' && name === 'option') {
        this.pending = [nameAttr(rawAttrs) ?? '', ''];
      }
    }
  }

  text(data: string): void {
    if (this.capture) this.capture.text(data);
    else this.buf += data;
  }

  close(name: string): void {
    if (this.capture) {
      this.capture.close();
      if (!this.capture.done) return;
      this.capture = undefined;
      this.path.pop();
      return;
    }
    const depth = this.path.length;
    const parent = this.path[depth - 2];
    this.path.pop();
    if (depth === 3 && name === 'label' && parent === 'labels') {
      const l = this.store.labels[this.store.labels.length - 1];
      if (l) l.name = this.buf.trim();
    } else if (this.pending && (name === 'property' || name === 'feature' || name === 'option')) {
      const [k, ref] = this.pending;
      const value: [string, string] = [k, ref || this.buf];
      if (depth === 3) this.store.globals.push(value);
      else if (name === 'property') this.domain?.props.push(value);
      else if (name === 'feature') this.domain?.features.push(value);
      else this.device?.options.push(value);
      this.pending = undefined;
    } else if (depth === 3 && name === 'domain') {
      this.domain = undefined;
    }
  }

  private startCapture(name: string, rawAttrs: string, pos: number, into: XmlElement[]): void {
    this.capture = new TreeBuilder();
    this.capture.open(name, rawAttrs, pos);
    into.push(this.capture.root as XmlElement);
  }
}

/** `<property name="N">` or the old `<property name="N" ref="label-1"/>`. */
function propertyStart(rawAttrs: string): [string, string] {
  const name = nameAttr(rawAttrs);
  if (name !== undefined && !rawAttrs.includes('ref')) return [name, ''];
  const attrs = parseAttrs(rawAttrs);
  return [attr({ attrs }, 'name') ?? '', attr({ attrs }, 'ref') ?? ''];
}
