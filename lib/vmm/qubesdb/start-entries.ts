// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The QubesDB entries dom0 writes for a qube it starts, as data: every
 * operation in the order the reference performs it (`create_qdb_entries`,
 * then the `domain-qdb-create` handlers), computed from the store and a
 * few runtime facts passed in (`StartRuntime`), so the result depends on
 * nothing else.
 *
 * Order (shared/spec/vmm.md §4.6): the core entries; then the handlers of
 * r3compatibility (/qubes-vm-type, legacy iptables, mapped services),
 * services, gui, audio, vm_config and custom_persist; then the network
 * provider part (connected IPs, and per running client its mapped-ip
 * entries and firewall rules); a DispVM finally overwrites
 * /qubes-vm-persistence with `none`.
 *
 * Deliberate choices:
 *   - Feature lookups with template fallback where the reference uses one
 *     (`boot-mode.default-user.*`, `anon-timezone`, `qubes-firewall`, `gui`,
 *     the videoram features, which also fall back to dom0's).
 *   - maxmem unknown (offline) counts as 0 for meminfo-writer.
 *   - `str(None)` of the reference is written as `None` where the reference
 *     would (a net qube without a gateway cannot occur in a valid store).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (create_qdb_entries),
 * qubes/vm/dispvm.py, qubes/vm/mix/net.py, qubes/ext/{r3compatibility,
 * services,gui,audio,vm_config,custom_persist}.py; shared/spec/vmm.md §4.6.
 */
import crypto from 'node:crypto';
import type { Qubes } from '../../app/app.js';
import { QubesError } from '../../errors.js';
import { firewallAddresses } from '../../firewall/firewall.js';
import { firewallQdbOps, type QdbOp } from '../../firewall/qubesdb-export.js';
import type { Rule } from '../../firewall/rule.js';
import { bootmodeDefaultUser } from '../../vm/boot-modes.js';
import { checkWithTemplate, featureIsTrue } from '../../vm/features.js';
import type { PropValue } from '../../vm/property.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { SERVICE_PREFIX, VM_CONFIG_PREFIX } from '../../vm/services.js';
import { iptablesDomainRules, iptablesHeader } from './legacy-iptables.js';
const { createHash } = crypto;

/** What a start needs to know beyond the store. */
export interface StartRuntime {
  /** Domain id of a running qube, -1 when it is not running (dom0: 0). */
  xid(vm: QubesVM): number;
  /** dom0's time zone name (`Europe/Paris`), or null when unknown (then none is written). */
  timezone: string | null;
  /** Base64 of 64 random bytes, for /qubes-random-seed. */
  randomSeed: string;
  /** The current time (ms): firewall expiry, and the legacy iptables header. */
  nowMs: number;
  /** The qube's firewall rules as stored (expired ones are left out here). */
  firewallRules(vm: QubesVM): readonly Rule[];
}

/** DNS servers every networked qube gets. */
export const DNS = ['10.139.1.1', '10.139.1.2'] as const;
/** Netmask of the point-to-point links a net qube serves. */
const NETVM_NETMASK = '255.255.255.255';

/** Python's str() of a property value. */
function pyStr(v: PropValue | undefined | null): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** A property value that is set (not null, absent or empty). */
const has = (v: PropValue | undefined | null): boolean => v !== null && v !== undefined && v !== '';

class Ops {
  readonly list: QdbOp[] = [];
  write(path: string, value: string): void {
    this.list.push({ op: 'write', path, value });
  }
  rm(path: string): void {
    this.list.push({ op: 'rm', path });
  }
}

const running = (rt: StartRuntime, vm: QubesVM | null): vm is QubesVM => vm !== null && rt.xid(vm) >= 0;

function coreEntries(o: Ops, vm: QubesVM, rt: StartRuntime): void {
  const updateable = vm.get('updateable') === true;
  o.write('/name', vm.name);
  o.write('/type', vm.klass);
  o.write('/default-user', bootmodeDefaultUser(vm));
  o.write('/qubes-vm-updateable', pyStr(updateable));
  o.write('/qubes-vm-persistence', updateable ? 'full' : 'rw-only');
  o.write('/qubes-debug-mode', vm.get('debug') === true ? '1' : '0');
  o.write('/qubes-base-template', vm.templateVm()?.name ?? '');
  o.write('/qubes-random-seed', rt.randomSeed);

  if (vm.get('provides_network') === true) {
    // the network key is only checked for being non-empty
    o.write('/qubes-netvm-network', pyStr(vm.get('gateway')));
    o.write('/qubes-netvm-gateway', pyStr(vm.get('gateway')));
    if (has(vm.get('gateway6'))) o.write('/qubes-netvm-gateway6', pyStr(vm.get('gateway6')));
    o.write('/qubes-netvm-netmask', NETVM_NETMASK);
    o.write('/qubes-netvm-primary-dns', DNS[0]);
    o.write('/qubes-netvm-secondary-dns', DNS[1]);
  }
  if (vm.netvmVm()) {
    o.write('/qubes-mac', pyStr(vm.get('mac')));
    o.write('/qubes-ip', pyStr(vm.get('visible_ip')));
    o.write('/qubes-netmask', pyStr(vm.get('visible_netmask')));
    o.write('/qubes-gateway', pyStr(vm.get('visible_gateway')));
    o.write('/qubes-primary-dns', DNS[0]);
    o.write('/qubes-secondary-dns', DNS[1]);
    if (has(vm.get('visible_ip6'))) o.write('/qubes-ip6', pyStr(vm.get('visible_ip6')));
    if (has(vm.get('visible_gateway6'))) o.write('/qubes-gateway6', pyStr(vm.get('visible_gateway6')));
  }
  if (featureIsTrue(checkWithTemplate(vm, 'anon-timezone'))) o.rm('/qubes-timezone');
  else if (rt.timezone) o.write('/qubes-timezone', rt.timezone);
  o.write('/qubes-block-devices', '');
  o.write('/qubes-usb-devices', '');
}

/** R3 qube type names. */
function r3VmType(vm: QubesVM): string {
  if (vm.klass === 'TemplateVM') return 'TemplateVM';
  if (vm.get('provides_network') !== true) return 'AppVM';
  return vm.netvmVm() ? 'ProxyVM' : 'NetVM';
}

/** Features the R3 agents read as services. */
const R3_SERVICES: Record<string, string> = {
  'check-updates': 'qubes-update-check',
  'service.ntpd': 'ntpd',
  dvm: 'qubes-dvm',
  'updates-proxy-setup': 'yum-proxy-setup',
};

const bit = (value: string): string => (featureIsTrue(value) ? '1' : '0');

/**
 * The legacy iptables entries of a network-providing qube (also written at
 * each client's spawn); nothing when the qube's agent advertises
 * `qubes-firewall`.
 */
export function legacyIptablesOps(app: Qubes, firewallvm: QubesVM, rt: StartRuntime): QdbOp[] {
  const o = new Ops();
  if (featureIsTrue(checkWithTemplate(firewallvm, 'qubes-firewall'))) return o.list;
  o.rm('/qubes-iptables-domainrules/');
  o.write('/qubes-iptables-header', iptablesHeader(rt.nowMs));
  for (const client of app.domains.connectedTo(firewallvm)) {
    const xid = rt.xid(client);
    const ip = client.get('ip');
    if (xid < 0 || !has(ip)) continue;
    o.write(`/qubes-iptables-domainrules/${xid}`, iptablesDomainRules(pyStr(ip), rt.firewallRules(client), DNS, rt.nowMs));
  }
  o.write('/qubes-iptables', 'reload');
  return o.list;
}

function r3Compatibility(o: Ops, app: Qubes, vm: QubesVM, rt: StartRuntime): void {
  o.write('/qubes-vm-type', r3VmType(vm));
  o.write('/qubes-iptables-error', '');
  o.list.push(...legacyIptablesOps(app, vm, rt));
  for (const [feature, value] of vm.features.entries()) {
    const service = R3_SERVICES[feature];
    if (service) o.write(`/qubes-service/${service}`, bit(value));
  }
}

const APP_DISPVM = 'app-dispvm.';
/** Longest service name a qube's QubesDB key can carry. */
const MAX_SERVICE = 48;

/** The key under /hash-app-dispvm/ for an application name. */
export const appDispvmHash = (app: string): string => createHash('sha256').update(app, 'utf8').digest('base64url');

/**
 * The entries of one service of a qube (`service.NAME` = `value`, or
 * removed: undefined): `/qubes-service/NAME` as 0 or 1 (names up to 48
 * bytes), and for `app-dispvm.APP` the `/hash-app-dispvm/` entry of the
 * application while the service is on.
 */
function serviceOps(o: Ops, service: string, value: string | undefined): void {
  if (Buffer.byteLength(service) <= MAX_SERVICE) {
    if (value === undefined) o.rm(`/qubes-service/${service}`);
    else o.write(`/qubes-service/${service}`, bit(value));
  }
  if (service.startsWith(APP_DISPVM)) {
    const app = service.slice(APP_DISPVM.length);
    const key = `/hash-app-dispvm/${appDispvmHash(app)}`;
    if (featureIsTrue(value)) o.write(key, app);
    else o.rm(key);
  }
}

function services(o: Ops, vm: QubesVM): void {
  for (const [feature, value] of vm.features.entries()) {
    if (!feature.startsWith(SERVICE_PREFIX)) continue;
    const service = feature.slice(SERVICE_PREFIX.length);
    if (service !== '') serviceOps(o, service, value);
  }
  const maxmem = vm.get('maxmem');
  o.write('/qubes-service/meminfo-writer', typeof maxmem === 'number' && maxmem > 0 ? '1' : '0');
}

/** Own value, the template chain's, else dom0's. */
function withTemplateAndAdminVm(app: Qubes, vm: QubesVM, feature: string): string | undefined {
  return checkWithTemplate(vm, feature) ?? app.domains.all().find((v) => v.klass === 'AdminVM')?.features.get(feature);
}

function gui(o: Ops, app: Qubes, vm: QubesVM, rt: StartRuntime): void {
  for (const feature of ['gui-videoram-overhead', 'gui-videoram-min']) {
    const v = withTemplateAndAdminVm(app, vm, feature);
    if (v !== undefined) o.write(`/qubes-${feature}`, v);
  }
  const guivm = vm.vmRef('guivm');
  const guiFeature = checkWithTemplate(vm, 'gui');
  o.write('/qubes-gui-enabled', pyStr(guivm !== null && (guiFeature === undefined || featureIsTrue(guiFeature))));
  if (guivm && guivm !== vm) {
    o.write('/keyboard-layout', pyStr(vm.get('keyboard_layout')));
    if (running(rt, guivm)) o.write('/qubes-gui-domain-xid', String(rt.xid(guivm)));
  }
  if (featureIsTrue(vm.features.get('service.guivm'))) o.write('/guivm-windows-prefix', vm.features.get('guivm-windows-prefix') ?? 'GuiVM');
}

function audio(o: Ops, vm: QubesVM, rt: StartRuntime): void {
  const audiovm = vm.vmRef('audiovm');
  if (!audiovm) o.rm('/qubes-audio-domain-xid');
  else if (audiovm !== vm && running(rt, audiovm)) o.write('/qubes-audio-domain-xid', String(rt.xid(audiovm)));
}

/** Key prefix of custom-persist entries; their keys fit the 63-byte limit or are skipped. */
const PERSIST = '/persist/';
const MAX_PERSIST_KEY = 63 - PERSIST.length;

function featureTrees(o: Ops, vm: QubesVM): void {
  for (const [feature, value] of vm.features.entries())
    if (feature.startsWith(VM_CONFIG_PREFIX)) o.write(`/vm-config/${feature.slice(VM_CONFIG_PREFIX.length)}`, value);
  for (const [feature, value] of vm.features.entries()) {
    if (!feature.startsWith('custom-persist.')) continue;
    const key = feature.slice('custom-persist.'.length);
    if (key !== '' && key.length <= MAX_PERSIST_KEY) o.write(`${PERSIST}${key}`, value);
  }
}

/**
 * What a network-providing qube's QubesDB gets about its clients: the
 * visible addresses of every connected qube, then for each running one (or
 * each of `only`) its mapped-ip entries and its firewall rules.
 */
export function clientNetworkOps(app: Qubes, netvm: QubesVM, rt: StartRuntime, only?: readonly QubesVM[]): QdbOp[] {
  const o = new Ops();
  const clients = app.domains.connectedTo(netvm);
  const ips = (prop: string) =>
    clients
      .map((c) => c.get(prop))
      .filter(has)
      .map(pyStr)
      .join(' ');
  o.write('/connected-ips', ips('visible_ip'));
  o.write('/connected-ips6', ips('visible_ip6'));
  for (const client of clients) {
    if (!running(rt, client) || (only && !only.includes(client))) continue;
    const base = `/mapped-ip/${pyStr(client.get('ip'))}`;
    for (const [key, prop] of [
      ['visible-ip', 'visible_ip'],
      ['visible-gateway', 'visible_gateway'],
    ] as const) {
      const v = client.get(prop);
      if (has(v)) o.write(`${base}/${key}`, pyStr(v));
      else o.rm(`${base}/${key}`);
    }
    o.list.push(...firewallQdbOps(firewallAddresses(client), rt.firewallRules(client), rt.nowMs));
  }
  return o.list;
}

/**
 * What a running qube's QubesDB gets when one of its features was set to
 * `value` or removed (undefined): services (`service.*`) and configuration
 * entries (`vm-config.*`) follow at once; other features are read only at
 * start. The meminfo-writer entry follows maxmem, never the feature.
 */
export function featureChangeOps(feature: string, value: string | undefined): QdbOp[] {
  const o = new Ops();
  if (feature.startsWith(SERVICE_PREFIX)) {
    const service = feature.slice(SERVICE_PREFIX.length);
    if (service !== '' && service !== 'meminfo-writer') serviceOps(o, service, value);
  } else if (feature.startsWith(VM_CONFIG_PREFIX)) {
    const key = `/vm-config/${feature.slice(VM_CONFIG_PREFIX.length)}`;
    if (value === undefined) o.rm(key);
    else o.write(key, value);
  }
  return o.list;
}

/** Every QubesDB operation of a qube's start, in order. */
export function startOps(app: Qubes, vm: QubesVM, rt: StartRuntime): QdbOp[] {
  if (vm.klass === 'AdminVM') throw new QubesError('dom0 is not started; its QubesDB entries are not written by a start');
  const o = new Ops();
  coreEntries(o, vm, rt);
  r3Compatibility(o, app, vm, rt);
  services(o, vm);
  gui(o, app, vm, rt);
  audio(o, vm, rt);
  featureTrees(o, vm);
  o.list.push(...clientNetworkOps(app, vm, rt));
  if (vm.klass === 'DispVM') o.write('/qubes-vm-persistence', 'none');
  return o.list;
}

/**
 * The entries a freshly started qube's QubesDB holds once `startOps` ran:
 * each key once, where it was first written, with its last value (removals
 * of keys never written leave nothing).
 */
export function startEntries(app: Qubes, vm: QubesVM, rt: StartRuntime): [string, string][] {
  const db = new Map<string, string>();
  for (const op of startOps(app, vm, rt)) {
    if (op.op === 'write') db.set(op.path, op.value);
    else if (op.path.endsWith('/')) for (const k of [...db.keys()]) k.startsWith(op.path) && db.delete(k);
    else db.delete(op.path);
  }
  return [...db];
}
