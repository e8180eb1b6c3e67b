// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The remote-program procedures this client uses: numbers, argument
 * encoders and reply decoders, in the field order of remote_protocol.x.
 * Pure: no I/O. Each entry says whether calling it twice is harmless
 * (`idempotent`), which decides whether a call cut off by a dropped
 * connection may be sent again after reconnecting.
 *
 * Reference: libvirt src/remote/remote_protocol.x; go-libvirt
 * remote_protocol.gen.go; shared/spec/libvirt-rpc.md §4.
 */
import { STRING_MAX } from './protocol.js';
import { XdrError, XdrReader, XdrWriter } from './xdr.js';

export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_TYPE: 3,
  CONNECT_GET_VERSION: 4,
  NODE_GET_INFO: 6,
  DOMAIN_CREATE: 9,
  DOMAIN_DEFINE_XML: 11,
  DOMAIN_DESTROY: 12,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_GET_INFO: 16,
  DOMAIN_LOOKUP_BY_ID: 22,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_RESUME: 28,
  DOMAIN_SHUTDOWN: 33,
  DOMAIN_SUSPEND: 34,
  DOMAIN_UNDEFINE: 35,
  CONNECT_GET_HOSTNAME: 59,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  CONNECT_GET_URI: 110,
  DOMAIN_IS_ACTIVE: 150,
  DOMAIN_IS_PERSISTENT: 151,
  CONNECT_GET_LIB_VERSION: 157,
  DOMAIN_ATTACH_DEVICE_FLAGS: 160,
  DOMAIN_DETACH_DEVICE_FLAGS: 161,
  DOMAIN_CREATE_WITH_FLAGS: 196,
  DOMAIN_GET_STATE: 212,
  DOMAIN_UNDEFINE_FLAGS: 231,
  DOMAIN_DESTROY_FLAGS: 234,
  DOMAIN_SHUTDOWN_FLAGS: 258,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
  DOMAIN_DEFINE_XML_FLAGS: 350,
} as const;

/** A domain as the wire names it (`remote_nonnull_domain`); the daemon finds it by UUID. */
export interface DomainRef {
  name: string;
  /** Canonical text form, lower case. */
  uuid: string;
  /** -1 when inactive; for a fresh lookup, ≥ 0 means active. */
  id: number;
}

export function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new XdrError(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

export function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const writeDomain = (w: XdrWriter, d: DomainRef): XdrWriter => w.string(d.name).fixedOpaque(uuidBytes(d.uuid)).int(d.id);
export const readDomain = (r: XdrReader): DomainRef => ({ name: r.string(STRING_MAX), uuid: uuidText(r.fixedOpaque(16)), id: r.int() });

/** How one procedure's arguments are written and its reply read. */
export interface Procedure<A, R> {
  proc: number;
  /** Safe to send again when the connection dropped before the reply came. */
  idempotent: boolean;
  encode(w: XdrWriter, args: A): void;
  decode(r: XdrReader): R;
}

const noArgs = (_w: XdrWriter, _a: void): void => {};
const voidRet = (): void => undefined;
const str = (r: XdrReader) => r.string(STRING_MAX);

function proc<A, R>(p: number, idempotent: boolean, encode: (w: XdrWriter, a: A) => void, decode: (r: XdrReader) => R): Procedure<A, R> {
  return { proc: p, idempotent, encode, decode };
}

const domainArg = (w: XdrWriter, d: DomainRef) => void writeDomain(w, d);
const domainXmlFlagsArg = (w: XdrWriter, a: { dom: DomainRef; xml: string; flags: number }) => void writeDomain(w, a.dom).string(a.xml).uint(a.flags);
const domainFlagsArg = (w: XdrWriter, a: { dom: DomainRef; flags: number }) => void writeDomain(w, a.dom).uint(a.flags);

export interface NodeInfo {
  model: string;
  /** KiB */
  memory: bigint;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainInfoRet {
  state: number;
  /** KiB */
  maxMem: bigint;
  /** KiB */
  memory: bigint;
  nrVirtCpu: number;
  /** ns */
  cpuTime: bigint;
}

export type TypedParamValue = number | bigint | boolean | string;

export interface DomainStatsRecord {
  dom: DomainRef;
  params: Map<string, TypedParamValue>;
}

/** `remote_typed_param`: a field name and a value tagged by type (1 INT … 7 STRING). */
function readTypedParam(r: XdrReader): [string, TypedParamValue] {
  const field = str(r);
  const type = r.int();
  switch (type) {
    case 1:
      return [field, r.int()];
    case 2:
      return [field, r.uint()];
    case 3:
      return [field, r.hyper()];
    case 4:
      return [field, r.uhyper()];
    case 5:
      return [field, r.double()];
    case 6:
      return [field, r.int() !== 0];
    case 7:
      return [field, str(r)];
    default:
      throw new XdrError(`unknown typed parameter type ${type} for ${field}`);
  }
}

export interface LifecycleMessage {
  callbackId: number;
  dom: DomainRef;
  event: number;
  detail: number;
}

export const P = {
  authList: proc(Proc.AUTH_LIST, true, noArgs, (r) => r.array((x) => x.int(), 20)),
  authPolkit: proc(Proc.AUTH_POLKIT, true, noArgs, (r) => r.int()),
  supportsFeature: proc(Proc.CONNECT_SUPPORTS_FEATURE, true, (w, feature: number) => void w.int(feature), (r) => r.int() !== 0),
  open: proc(Proc.CONNECT_OPEN, false, (w, a: { name: string | null; flags: number }) => void w.optional(a.name, (x, s) => x.string(s)).uint(a.flags), voidRet),
  close: proc(Proc.CONNECT_CLOSE, false, noArgs, voidRet),
  getType: proc(Proc.CONNECT_GET_TYPE, true, noArgs, str),
  getVersion: proc(Proc.CONNECT_GET_VERSION, true, noArgs, (r) => r.uhyper()),
  getLibVersion: proc(Proc.CONNECT_GET_LIB_VERSION, true, noArgs, (r) => r.uhyper()),
  getHostname: proc(Proc.CONNECT_GET_HOSTNAME, true, noArgs, str),
  getUri: proc(Proc.CONNECT_GET_URI, true, noArgs, str),
  nodeGetInfo: proc(Proc.NODE_GET_INFO, true, noArgs, (r): NodeInfo => {
    let model = '';
    for (let i = 0; i < 32; i++) {
      const c = r.int();
      if (c !== 0) model += String.fromCharCode(c & 0xff);
    }
    return { model, memory: r.uhyper(), cpus: r.int(), mhz: r.int(), nodes: r.int(), sockets: r.int(), cores: r.int(), threads: r.int() };
  }),
  listAllDomains: proc(
    Proc.CONNECT_LIST_ALL_DOMAINS,
    true,
    (w, flags: number) => void w.int(1).uint(flags),
    (r) => {
      const domains = r.array(readDomain, 16384);
      r.uint(); // ret: the count again
      return domains;
    },
  ),
  allDomainStats: proc(
    Proc.CONNECT_GET_ALL_DOMAIN_STATS,
    true,
    (w, a: { doms: DomainRef[]; stats: number; flags: number }) => void w.array(a.doms, writeDomain).uint(a.stats).uint(a.flags),
    (r): DomainStatsRecord[] => r.array((x) => ({ dom: readDomain(x), params: new Map(x.array(readTypedParam)) })),
  ),
  lookupById: proc(Proc.DOMAIN_LOOKUP_BY_ID, true, (w, id: number) => void w.int(id), readDomain),
  lookupByName: proc(Proc.DOMAIN_LOOKUP_BY_NAME, true, (w, name: string) => void w.string(name), readDomain),
  lookupByUuid: proc(Proc.DOMAIN_LOOKUP_BY_UUID, true, (w, uuid: string) => void w.fixedOpaque(uuidBytes(uuid)), readDomain),
  defineXml: proc(Proc.DOMAIN_DEFINE_XML_FLAGS, false, (w, a: { xml: string; flags: number }) => void w.string(a.xml).uint(a.flags), readDomain),
  undefine: proc(Proc.DOMAIN_UNDEFINE_FLAGS, false, domainFlagsArg, voidRet),
  create: proc(Proc.DOMAIN_CREATE_WITH_FLAGS, false, domainFlagsArg, readDomain),
  destroy: proc(Proc.DOMAIN_DESTROY_FLAGS, false, domainFlagsArg, voidRet),
  shutdown: proc(Proc.DOMAIN_SHUTDOWN_FLAGS, false, domainFlagsArg, voidRet),
  suspend: proc(Proc.DOMAIN_SUSPEND, false, domainArg, voidRet),
  resume: proc(Proc.DOMAIN_RESUME, false, domainArg, voidRet),
  getState: proc(Proc.DOMAIN_GET_STATE, true, (w, a: { dom: DomainRef; flags: number }) => void writeDomain(w, a.dom).uint(a.flags), (r) => ({ state: r.int(), reason: r.int() })),
  getInfo: proc(
    Proc.DOMAIN_GET_INFO,
    true,
    domainArg,
    (r): DomainInfoRet => ({ state: r.int(), maxMem: r.uhyper(), memory: r.uhyper(), nrVirtCpu: r.int(), cpuTime: r.uhyper() }),
  ),
  // a device attached twice is two devices (or an error): never repeated
  attachDevice: proc(Proc.DOMAIN_ATTACH_DEVICE_FLAGS, false, domainXmlFlagsArg, voidRet),
  detachDevice: proc(Proc.DOMAIN_DETACH_DEVICE_FLAGS, false, domainXmlFlagsArg, voidRet),
  getXmlDesc: proc(Proc.DOMAIN_GET_XML_DESC, true, domainFlagsArg, str),
  isActive: proc(Proc.DOMAIN_IS_ACTIVE, true, domainArg, (r) => r.int() !== 0),
  isPersistent: proc(Proc.DOMAIN_IS_PERSISTENT, true, domainArg, (r) => r.int() !== 0),
  eventRegisterAny: proc(
    Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
    false,
    (w, a: { eventId: number; dom: DomainRef | null }) => void w.int(a.eventId).optional(a.dom, writeDomain),
    (r) => r.int(),
  ),
  eventDeregisterAny: proc(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, false, (w, callbackId: number) => void w.int(callbackId), voidRet),
};

/** `remote_domain_event_callback_lifecycle_msg`, the payload of a proc 318 MESSAGE. */
export function decodeLifecycleMessage(payload: Buffer): LifecycleMessage {
  const r = new XdrReader(payload);
  const m = { callbackId: r.int(), dom: readDomain(r), event: r.int(), detail: r.int() };
  r.end();
  return m;
}

/** Arguments of one call as payload bytes. */
export function encodeArgs<A>(p: Procedure<A, unknown>, args: A): Buffer {
  const w = new XdrWriter();
  p.encode(w, args);
  return w.toBuffer();
}

/** A reply payload, read whole. @throws XdrError when it does not match */
export function decodeReply<R>(p: Procedure<unknown, R>, payload: Buffer): R {
  const r = new XdrReader(payload);
  const v = p.decode(r);
  r.end();
  return v;
}
