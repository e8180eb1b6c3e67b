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
 * The file is read into raw records (qubes-xml-raw.ts), applied here in the
 * reference's stages, then migrated (load-migrations.ts). Loading does no
 * host I/O: what a migration needs from the machine comes in `host`.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.load, qubes/vm/*.py;
 * shared/spec/store-and-core-tools.md §1.2–1.5, §4.1.
 */
import { QubesError, StoreError } from '../errors.js';
import { attr, decodeXmlBytes, lineAt, scanXml, XmlSyntaxError } from '../util/xml-reader.js';
import { ASSIGNMENT_MODES, type AssignmentMode, type DeviceAssignment } from '../vm/devices.js';
import { parseBool, setProperty } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { isVmClass } from '../vm/vm-properties.js';
import type { Vmm } from '../vmm/vmm.js';
import { Pool, Qubes } from './app.js';
import { Labels } from './labels.js';
import { migrate, type HostFacts } from './load-migrations.js';
import { RawStoreReader, type RawDevice, type RawDomain, type RawStore } from './qubes-xml-raw.js';

/** Things the reference would only log; callers may show them with -v. */
export type LoadWarnings = string[];

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
  /** What the migrations need from this machine; without it, older PCI ports are kept as stored. */
  host?: HostFacts;
  /** The installer's thin pool (`DEFAULT_LVM_POOL`), which the default pool prefers. */
  defaultLvmPool?: string;
}

/**
 * A store's text, or its bytes (decoded as strict UTF-8), as raw records,
 * and its text (for the line numbers of messages).
 * @throws StoreError naming the file and, where known, the line
 */
export function scanQubesXml(input: string | Uint8Array, file: string): { raw: RawStore; src: string } {
  const reader = new RawStoreReader();
  try {
    // Bytes are decoded as strict UTF-8 (refused, never patched with U+FFFD).
    const src = typeof input === 'string' ? input : decodeXmlBytes(input);
    scanXml(src, reader);
    return { raw: reader.store, src };
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new StoreError(`${file}: malformed XML: ${e.message}`);
    throw e;
  }
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
  const { raw, src } = scanQubesXml(input, file);
  return loadRawStore(raw, () => src, file, vmm, baseDir, warnings, options);
}

/**
 * Load a store from its raw records (scanQubesXml's, or the parsed-store
 * cache's: lib/app/store-cache.ts). The records are the store's from here
 * on (the qubes keep parts of them). `text` gives the store's text, asked
 * only for the line number of a message.
 * @throws StoreError naming the file and, where known, the line
 */
export function loadRawStore(
  raw: RawStore,
  text: () => string,
  file: string,
  vmm: Vmm,
  baseDir: string,
  warnings: LoadWarnings = [],
  options: LoadOptions = {},
): Qubes {
  const host = options.host ?? {};
  if (raw.root === 'QubesVmCollection')
    throw new StoreError(`${file}: this is an R3.2 store (QubesVmCollection); migrate it with Qubes R4 tools first`);
  if (raw.root !== 'qubes') throw new StoreError(`${file}: root element is <${raw.root}>, expected <qubes>`);

  const app = new Qubes(vmm, baseDir, readLabels(raw, text, file));
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
      where = () => `domain on line ${lineAt(text(), d.pos)}`;
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
      readDomainStage4(app, p, warnings, setRef, host);
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

function readLabels(raw: RawStore, text: () => string, file: string): Labels {
  const labels = new Labels();
  for (const l of raw.labels) {
    const id = attr(l, 'id') ?? '';
    if (!/^[^-]*-\d+$/.test(id)) throw new StoreError(`${file}: line ${lineAt(text(), l.pos)}: label id '${id}' is not of the form label-N`);
    let color = attr(l, 'color') ?? '0x000000';
    if (color === '0x555753') color = '0x555555'; // old gray (reference migration)
    try {
      labels.add({ index: Number(id.slice(id.indexOf('-') + 1)), name: l.name, color });
    } catch (e) {
      throw new StoreError(`${file}: line ${lineAt(text(), l.pos)}: ${(e as Error).message}`);
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
  host: HostFacts,
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
      const a = readAssignment(app, vm, d.devclass, dev, warnings, host);
      if (a) assignments.push(a);
    }
    vm.devices.push({ devclass: d.devclass, assignments });
  }
  if (raw.volumes) vm.setRawVolumes(raw.volumes);
  vm.extraElements = raw.extras;
}

/** Current and legacy assignment shapes (spec §1.3 item 4; firewall-and-devices.md B4). */
function readAssignment(app: Qubes, vm: QubesVM, devclass: string, dev: RawDevice, warnings: LoadWarnings, host: HostFacts): DeviceAssignment | null {
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
  return { backend, port: devclass === 'pci' && port !== '*' && host.pciPort ? host.pciPort(port) : port, mode: mode as AssignmentMode, identity: identity ?? '*', options };
}
