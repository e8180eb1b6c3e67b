// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One firewall rule and the validation of every field, as the reference
 * core does it (it is the last gate before rules reach the net qube, and it
 * is stricter than the client: port 65536 and odd comments are refused).
 *
 * Each `parseX(untrusted)` turns user or file text into a value or throws
 * QubesValueError with the reference's reason. `makeRule` checks the
 * fields together: dstports needs proto tcp/udp, icmptype needs icmp, an
 * action is required.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (RuleOption and its
 * subclasses, Rule); shared/spec/firewall-and-devices.md A2.
 */
import { QubesValueError } from '../errors.js';
import { isIPv4, isIPv6 } from '../util/ip-address.js';

export type Action = 'accept' | 'drop';
export type Proto = 'tcp' | 'udp' | 'icmp';
export type SpecialTarget = 'dns';
/** The QubesDB key of a destination: an IPv4 or IPv6 network, or a name resolved by the net qube. */
export type HostType = 'dst4' | 'dst6' | 'dsthost';

export interface DstHost {
  /** As stored: the user's text, with `/32` or `/128` added to a bare address (never masked or re-spelled). */
  readonly text: string;
  readonly type: HostType;
  /** 0 for host names. */
  readonly prefixlen: number;
}

export interface DstPorts {
  readonly first: number;
  readonly last: number;
}

export interface Rule {
  readonly action: Action;
  readonly dsthost?: DstHost;
  readonly proto?: Proto;
  readonly dstports?: DstPorts;
  readonly icmptype?: number;
  readonly specialtarget?: SpecialTarget;
  /** Seconds since the epoch; the rule stops applying after it. */
  readonly expire?: number;
  readonly comment?: string;
}

/** Rule fields, named as in firewall.xml and on the command line. */
export const RULE_FIELDS = ['action', 'dsthost', 'proto', 'dstports', 'icmptype', 'specialtarget', 'expire', 'comment'] as const;
export type RuleField = (typeof RULE_FIELDS)[number];
export const isRuleField = (k: string): k is RuleField => (RULE_FIELDS as readonly string[]).includes(k);

export const ACTIONS: readonly Action[] = ['accept', 'drop'];
export const PROTOS: readonly Proto[] = ['tcp', 'udp', 'icmp'];
export const SPECIAL_TARGETS: readonly SpecialTarget[] = ['dns'];

/** What any value but a comment may contain (a subset of ASCII punctuation). */
const SAFE_RE = /^[A-Za-z0-9:;,./\-_[\]]*$/;
const COMMENT_RE = /^[A-Za-z0-9:;,./\-_[\] ]*$/;
const HOSTNAME_RE = /^[a-z0-9._-]*$/;
/** datetime.fromtimestamp refuses later times (year 10000). */
const MAX_EXPIRE = 253402300799;

const fail = (reason: string): never => {
  throw new QubesValueError(reason);
};

function safe(value: string): string {
  if (!SAFE_RE.test(value)) fail('strange characters in rule');
  return value;
}

function choice<T extends string>(field: string, allowed: readonly T[], untrusted: string): T {
  safe(untrusted);
  if (!(allowed as readonly string[]).includes(untrusted))
    fail(`invalid ${field}: '${untrusted}' (allowed: ${allowed.join(', ')})`);
  return untrusted as T;
}

export const parseAction = (untrusted: string): Action => choice('action', ACTIONS, untrusted);
export const parseProto = (untrusted: string): Proto => choice('proto', PROTOS, untrusted);
export const parseSpecialTarget = (untrusted: string): SpecialTarget => choice('specialtarget', SPECIAL_TARGETS, untrusted);

/**
 * An IPv4 or IPv6 address or network (`A/LEN`), or a host name (lower case
 * letters, digits, `.`, `_`, `-`; no further structure is checked).
 *
 * @param prefixlen given separately (the R3.2 `netmask` attribute); used
 *   only for a bare address
 * @throws QubesValueError
 */
export function parseDstHost(untrusted: string, prefixlen?: number): DstHost {
  const slash = untrusted.indexOf('/');
  if (slash !== -1 && untrusted.indexOf('/', slash + 1) !== -1) fail(`Too many /: ${untrusted}`);
  if (slash === -1) {
    if (isIPv6(untrusted)) {
      const len = prefixlen ?? 128;
      if (len < 0 || len > 128) fail('netmask for IPv6 must be between 0 and 128');
      return { text: safe(`${untrusted}/${len}`), type: 'dst6', prefixlen: len };
    }
    if (isIPv4(untrusted)) {
      const len = prefixlen ?? 32;
      if (len < 0 || len > 32) fail('netmask for IPv4 must be between 0 and 32');
      return { text: safe(`${untrusted}/${len}`), type: 'dst4', prefixlen: len };
    }
    if (untrusted === '' || !HOSTNAME_RE.test(untrusted)) fail('Invalid hostname');
    return { text: safe(untrusted), type: 'dsthost', prefixlen: 0 };
  }
  const host = untrusted.slice(0, slash);
  const lenText = untrusted.slice(slash + 1);
  if (!/^[0-9]+$/.test(lenText)) fail('bad prefix length');
  const len = Number(lenText);
  if (isIPv6(host)) {
    if (len > 128) fail('netmask for IPv6 must be <= 128');
    return { text: safe(untrusted), type: 'dst6', prefixlen: len };
  }
  if (isIPv4(host)) {
    if (len > 32) fail('netmask for IPv4 must be <= 32');
    return { text: safe(untrusted), type: 'dst4', prefixlen: len };
  }
  return fail(`Invalid IP address: ${host}`);
}

/**
 * `N` or `N-M`, 0 ≤ N ≤ M ≤ 65535.
 * @throws QubesValueError
 */
export function parseDstPorts(untrusted: string): DstPorts {
  const parts = untrusted.split('-');
  if (parts.length > 2 || parts.some((p) => !/^[0-9]+$/.test(p))) fail(`invalid dstports: '${untrusted}'`);
  const [first, last] = parts.length === 2 ? parts.map(Number) : [Number(parts[0]), Number(parts[0])];
  if ([first, last].some((p) => (p as number) > 65535)) fail('Ports out of range');
  if ((first as number) > (last as number)) fail('Invalid port range');
  return { first: first as number, last: last as number };
}

/** 0–255, at most three decimal digits. @throws QubesValueError */
export function parseIcmpType(untrusted: string): number {
  if (!/^[0-9]{1,3}$/.test(untrusted)) fail('bad ICMP type');
  const t = Number(untrusted);
  if (t > 255) fail('ICMP type out of range');
  return t;
}

/** Seconds since the epoch, decimal digits only. @throws QubesValueError */
export function parseExpire(untrusted: string): number {
  safe(untrusted);
  if (!/^[0-9]+$/.test(untrusted) || Number(untrusted) > MAX_EXPIRE) fail('bad expiration time');
  return Number(untrusted);
}

/** Free text of letters, digits, spaces and `:;,./-_[]`. @throws QubesValueError */
export function parseComment(untrusted: string): string {
  if (!COMMENT_RE.test(untrusted)) fail('strange characters comment');
  return untrusted;
}

/** Untrusted field text, by field name (aliases already resolved). */
export type RuleFields = Partial<Record<RuleField, string>>;

/**
 * A rule from its field texts, each validated, then the fields checked
 * against each other (after all are set, so their order does not matter).
 * An empty comment counts as none.
 * @throws QubesValueError with the reference's reason
 */
export function makeRule(untrusted: RuleFields): Rule {
  const f = untrusted;
  const rule: { -readonly [K in keyof Rule]?: Rule[K] } = {};
  if (f.action !== undefined) rule.action = parseAction(f.action);
  if (f.dsthost !== undefined) rule.dsthost = parseDstHost(f.dsthost);
  if (f.proto !== undefined) rule.proto = parseProto(f.proto);
  if (f.dstports !== undefined) rule.dstports = parseDstPorts(f.dstports);
  if (f.icmptype !== undefined) rule.icmptype = parseIcmpType(f.icmptype);
  if (f.specialtarget !== undefined) rule.specialtarget = parseSpecialTarget(f.specialtarget);
  if (f.expire !== undefined) rule.expire = parseExpire(f.expire);
  if (f.comment !== undefined && f.comment !== '') rule.comment = parseComment(f.comment);
  return crossCheck(rule);
}

/** The checks across fields; `rule` holds no undefined field. */
function crossCheck(rule: Partial<Rule>): Rule {
  if (rule.dstports && rule.proto !== 'tcp' && rule.proto !== 'udp') fail("dstports valid only for 'tcp' and 'udp' protocols");
  if (rule.icmptype !== undefined && rule.proto !== 'icmp') fail("icmptype valid only for 'icmp' protocol");
  if (!rule.action) fail('missing action=');
  return rule as Rule;
}

/**
 * The checks across fields, for rules assembled from parsed values (fields
 * given as undefined are left out).
 * @throws QubesValueError
 */
export const checkRule = (rule: Partial<Rule>): Rule =>
  crossCheck(Object.fromEntries(Object.entries(rule).filter(([, v]) => v !== undefined)) as Partial<Rule>);

/** The rule that accepts everything: the whole list of a qube without firewall.xml, and what `reset` stores. */
export const ACCEPT_ALL: Rule = Object.freeze({ action: 'accept' });

/** `80` or `80-90`: firewall.xml and the table. */
export const portsText = (p: DstPorts): string => (p.first === p.last ? String(p.first) : `${p.first}-${p.last}`);
