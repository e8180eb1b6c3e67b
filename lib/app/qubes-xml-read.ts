// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubes.xml → Qubes. Lenient where the reference writer and its stale schema
 * disagree (order, empty containers, `ref=` labels, declarations), strict
 * where a wrong value would silently change meaning (unknown class, dangling
 * references, duplicate qid or name, bad booleans and integers).
 *
 * What this version does not interpret (unknown properties, unknown
 * elements, pool drivers, volume attributes) is kept verbatim and written
 * back, so a newer store survives a round trip through this tool.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.load, qubes/vm/*.py;
 * shared/spec/store-and-core-tools.md §1.2–1.5, §4.1.
 */
import { QubesError, StoreError } from '../errors.js';
import { attr, decodeXmlBytes, lineAt, nameAttr, parseAttrs, scanXml, TreeBuilder, XmlSyntaxError, type XmlElement, type XmlHandler } from '../util/xml-reader.js';
import { isPciPath, sbdfToPath } from '../devices/pci-path.js';
import { ASSIGNMENT_MODES, type AssignmentMode, type DeviceAssignment } from '../vm/devices.js';
import { parseBool, setProperty } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { isVmClass } from '../vm/vm-properties.js';
import type { Vmm } from '../vmm/vmm.js';
import { Pool, Qubes } from './app.js';
import { Labels } from './labels.js';

/** Things the reference would only log; callers may show them with -v. */
export type LoadWarnings = string[];

const KNOWN_ROOT = new Set(['labels', 'pools', 'properties', 'domains']);
const KNOWN_DOMAIN = new Set(['properties', 'features', 'tags', 'devices', 'volume-config']);

/** A `<domain>` as read, before its properties are applied in stages. */
interface RawDomain {
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

interface RawDevice {
  attrs: [string, string][];
  options: [string, string][];
}

interface RawStore {
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
class RawStoreReader implements XmlHandler {
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

interface Pending {
  vm: QubesVM;
  raw: RawDomain;
  /** Properties that name other qubes, set once every qube exists. */
  refs: [string, string][];
}

export interface LoadOptions {
  /**
   * For stores that are not this system's own (the qubes.xml inside a
   * backup, hand-edited samples): skip qubes of unknown class or duplicate
   * name, renumber duplicate qids, drop references to missing qubes, each
   * with a warning, instead of refusing the whole file. The local store is
   * always loaded strictly.
   */
  lenient?: boolean;
  /** This machine's sysfs, for converting old PCI ports (default /sys). */
  sysRoot?: string;
  /** The installer's thin pool (`DEFAULT_LVM_POOL`), which the default pool prefers. */
  defaultLvmPool?: string;
}

/**
 * Parse and load a store: its text, or its bytes (decoded as strict UTF-8).
 * @throws StoreError naming the file and, where known, the line
 */
export function loadQubesXml(
  input: string | Uint8Array,
  file: string,
  vmm: Vmm,
  baseDir: string,
  warnings: LoadWarnings = [],
  options: LoadOptions = {},
): Qubes {
  const reader = new RawStoreReader();
  let src = '';
  try {
    // Bytes are decoded as strict UTF-8 (refused, never patched with U+FFFD).
    src = typeof input === 'string' ? input : decodeXmlBytes(input);
    scanXml(src, reader);
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new StoreError(`${file}: malformed XML: ${e.message}`);
    throw e;
  }
  const raw = reader.store;
  if (raw.root === 'QubesVmCollection')
    throw new StoreError(`${file}: this is an R3.2 store (QubesVmCollection); migrate it with Qubes R4 tools first`);
  if (raw.root !== 'qubes') throw new StoreError(`${file}: root element is <${raw.root}>, expected <qubes>`);

  const app = new Qubes(vmm, baseDir, readLabels(raw, src, file));
  app.loading = true;
  app.defaultLvmPool = options.defaultLvmPool;
  // What is being loaded, for error messages (a function: line numbers cost a scan).
  let where = (): string => 'pools';
  try {
    for (const attrs of raw.pools) {
      const pool = new Pool(attrs);
      if (!pool.name) throw new QubesError('pool without a name');
      app.pools.set(pool.name, pool);
    }
    app.extraElements = raw.extras;

    // Stage 2: every qube with its plain properties, so references can resolve.
    const pending: Pending[] = [];
    // Every qid the file uses, so a renumbered duplicate cannot take one of a later qube.
    const fileQids = new Set(raw.domains.map((d) => Number(d.props.find(([k]) => k === 'qid')?.[1])));
    for (const d of raw.domains) {
      where = () => `domain on line ${lineAt(src, d.pos)}`;
      if (options.lenient && !isVmClass(d.klass)) {
        warnings.push(`${where()}: skipped: unknown class '${d.klass}'`);
        continue;
      }
      const p = readDomainStage2(app, d);
      where = () => `domain '${p.vm.name}'`;
      if (options.lenient && app.domains.get(p.vm.name)) {
        warnings.push(`${where()}: skipped: duplicate name`);
        continue;
      }
      if (options.lenient && app.domains.getByQid(p.vm.qid)) {
        let qid = 1;
        while (app.domains.getByQid(qid) || fileQids.has(qid)) qid++;
        fileQids.add(qid);
        warnings.push(`${where()}: duplicate qid ${p.vm.qid}, renumbered to ${qid}`);
        p.vm.props.set('qid', String(qid));
      }
      app.domains.add(p.vm);
      pending.push(p);
    }
    const setRef = (holder: Qubes | QubesVM, name: string, value: string) => {
      try {
        setProperty(holder, name, value);
      } catch (e) {
        if (!options.lenient || !(e instanceof QubesError)) throw e;
        warnings.push(`${where()}: ${name} dropped: ${e.message}`);
      }
    };
    if (!app.adminVm) app.domains.add(app.newVm('AdminVM'));

    // Stage 3: global properties.
    where = () => 'global properties';
    const fwNetvm = raw.globals.find(([k]) => k === 'default_fw_netvm')?.[1];
    for (const [name, value] of raw.globals) {
      if (name === 'default_fw_netvm') continue;
      if (!app.defs.has(name)) app.props.set(name, value); // unknown: kept verbatim
      else setRef(app, name, value);
    }

    // Stage 4: references between qubes, features, tags, devices, volumes.
    for (const p of pending) {
      where = () => `domain '${p.vm.name}'`;
      readDomainStage4(app, p, warnings, setRef, options.sysRoot ?? '/sys');
    }
    where = () => 'migrations';
    migrate(app, fwNetvm, warnings);
  } catch (e) {
    if (e instanceof QubesError) throw new StoreError(`${file}: ${where()}: ${e.message}`);
    throw e;
  } finally {
    app.loading = false;
  }
  return app;
}

function readLabels(raw: RawStore, src: string, file: string): Labels {
  const labels = new Labels();
  for (const l of raw.labels) {
    const id = attr(l, 'id') ?? '';
    if (!/^[^-]*-\d+$/.test(id)) throw new StoreError(`${file}: line ${lineAt(src, l.pos)}: label id '${id}' is not of the form label-N`);
    let color = attr(l, 'color') ?? '0x000000';
    if (color === '0x555753') color = '0x555555'; // old gray (reference migration)
    try {
      labels.add({ index: Number(id.slice(id.indexOf('-') + 1)), name: l.name, color });
    } catch (e) {
      throw new StoreError(`${file}: line ${lineAt(src, l.pos)}: ${(e as Error).message}`);
    }
  }
  return labels;
}

function readDomainStage2(app: Qubes, raw: RawDomain): Pending {
  const klass = raw.klass;
  if (!isVmClass(klass)) throw new QubesError(`no such VM class: '${klass}'`);
  const vm = app.newVm(klass);
  const refs: [string, string][] = [];
  for (let [name, value] of raw.props) {
    // Old property names (reference migrations, spec §1.5).
    if (name === 'hvm') {
      refs.push(['virt_mode', parseBool(value) ? 'hvm' : 'pv']);
      continue;
    }
    if (name === 'dispvm_allowed') name = 'template_for_dispvms';
    const def = vm.defs.get(name);
    if (!def) {
      vm.props.set(name, value); // unknown to this version: kept verbatim
      continue;
    }
    if (def.forbidden || def.stateless) {
      if (klass === 'AdminVM') continue; // dom0's fixed identity, harmless if present
      throw new QubesError(`property '${name}' cannot be stored for ${klass}`);
    }
    if (def.type === 'vm') refs.push([name, value]);
    else setProperty(vm, name, value);
  }
  if (klass !== 'AdminVM') {
    if (!vm.props.has('qid')) throw new QubesError('no qid');
    if (!vm.props.has('name')) throw new QubesError('no name');
    if (!vm.props.has('uuid')) vm.props.set('uuid', crypto.randomUUID()); // global Web Crypto: node:crypto loads only when needed
  }
  return { vm, raw, refs };
}

function readDomainStage4(
  app: Qubes,
  { vm, raw, refs }: Pending,
  warnings: LoadWarnings,
  setRef: (holder: QubesVM, name: string, value: string) => void,
  sysRoot: string,
): void {
  for (const [name, value] of refs) {
    if (name === 'virt_mode' && vm.props.has('virt_mode')) continue; // explicit beats migrated hvm
    setRef(vm, name, value);
  }
  for (const [k, v] of raw.features) vm.features.map.set(k, v);
  for (const t of raw.tags) vm.tags.set.add(t);
  for (const d of raw.devices) {
    const assignments: DeviceAssignment[] = [];
    for (const dev of d.devices) {
      const a = readAssignment(app, vm, d.devclass, dev, warnings, sysRoot);
      if (a) assignments.push(a);
    }
    vm.devices.push({ devclass: d.devclass, assignments });
  }
  if (raw.volumes) vm.setRawVolumes(raw.volumes);
  vm.extraElements = raw.extras;
}

/** Current and legacy assignment shapes (spec §1.3 item 4; firewall-and-devices.md B4). */
function readAssignment(app: Qubes, vm: QubesVM, devclass: string, dev: RawDevice, warnings: LoadWarnings, sysRoot: string): DeviceAssignment | null {
  const backend = attr(dev, 'backend-domain') ?? '';
  const port = attr(dev, 'id') ?? '';
  let options = dev.options;
  let identity = attr(dev, 'identity');
  const legacyIdentity = options.find(([k]) => k === 'identity');
  if (legacyIdentity) {
    identity = legacyIdentity[1];
    options = options.filter(([k]) => k !== 'identity');
  }
  const required = attr(dev, 'required');
  const mode = required !== undefined ? (required === 'yes' ? 'required' : 'auto-attach') : (attr(dev, 'mode') ?? 'required');
  if (!(ASSIGNMENT_MODES as readonly string[]).includes(mode)) {
    warnings.push(`${vm.name}: ${devclass} device '${port}': Unrecognized assignment mode '${mode}', ignoring.`);
    return null;
  }
  if (!app.domains.get(backend)) {
    warnings.push(`${vm.name}: Cannot find backend domain '${backend}' for device type ${devclass} '${port}'`);
    return null;
  }
  return { backend, port: devclass === 'pci' ? migratePciPort(port, sysRoot) : port, mode: mode as AssignmentMode, identity: identity ?? '*', options };
}

/**
 * PCI ports are paths since R4.3; an older BDF id (`01_23.4` behind a
 * bridge) is converted from this machine's sysfs, and kept when that fails
 * (firewall-and-devices.md B3). Ports on a root bus are already paths.
 */
function migratePciPort(port: string, sys: string): string {
  if (port === '*') return port;
  return isPciPath(sys, port) ? port : (sbdfToPath(sys, port) ?? port);
}

/** Load-time migrations of the reference (spec §1.5). */
function migrate(app: Qubes, fwNetvm: string | undefined, warnings: LoadWarnings): void {
  const vms = app.domains.all();
  const defaultNetvm = app.props.get('default_netvm');
  if (fwNetvm !== undefined && fwNetvm !== defaultNetvm) {
    for (const vm of vms) {
      if (vm.get('provides_network') === true && vm.has('netvm') && vm.isDefault('netvm')) vm.props.set('netvm', fwNetvm);
    }
  }
  const isDispTemplate = (name: string | undefined) => !name || app.domains.get(name)?.isDispvmTemplate() === true;
  for (const p of ['default_dispvm', 'management_dispvm']) {
    if (!isDispTemplate(app.props.get(p))) app.props.set(p, '');
  }
  for (const vm of vms) {
    for (const p of ['default_dispvm', 'management_dispvm']) {
      const v = vm.props.get(p);
      if (v !== undefined && !isDispTemplate(v)) vm.props.set(p, '');
    }
    const mw = vm.features.get('service.meminfo-writer');
    if (mw !== undefined) {
      if (mw === '' && vm.has('maxmem')) vm.props.set('maxmem', '0');
      vm.features.delete('service.meminfo-writer');
    }
  }
  breakNetvmLoops(app.domains.sorted(), warnings);
}

/**
 * Break netvm cycles as the reference does: a qube that is itself on a cycle
 * (its chain comes back to it) gets netvm none; qubes that merely lead into
 * a cycle keep theirs, and reach the end of the chain once the cycle is
 * broken. Qubes are visited by name; qubes known to reach the end of their
 * chain are remembered, so the many sharing one chain are walked once.
 */
function breakNetvmLoops(vms: QubesVM[], warnings: LoadWarnings): void {
  const terminates = new Set<QubesVM>();
  for (const vm of vms) {
    if (!vm.has('netvm')) continue;
    const path = new Set<QubesVM>([vm]);
    let cur = vm.netvmVm();
    while (cur && !terminates.has(cur) && !path.has(cur)) {
      path.add(cur);
      cur = cur.netvmVm();
    }
    if (cur === vm) {
      warnings.push(`${vm.name}: netvm loop found, setting netvm to none`);
      vm.props.set('netvm', '');
      terminates.add(vm);
    } else if (!cur || terminates.has(cur)) {
      for (const p of path) terminates.add(p);
    } // else: vm leads into a cycle of others, broken on their turn
  }
}
