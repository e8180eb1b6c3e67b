// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The three one-line text forms of a rule (space-separated `key=value`
 * tokens; each form has its own field order) and the parser that reads them
 * back.
 *
 *   form      order                                                            used for
 *   QubesDB   action host proto specialtarget dstports icmptype                net qube's QubesDB
 *   API       action expire host proto specialtarget dstports icmptype comment admin.vm.firewall.Get
 *   client    action proto host dstports icmptype specialtarget expire comment qvm-firewall --raw, Set
 *
 * `host` is `dst4=`, `dst6=` or `dsthost=` by the kind of destination;
 * dstports is always a range (`443-443`).
 *
 * Unlike the reference's client, the client form keeps an IP destination
 * with prefix 0 (`dst4=0.0.0.0/0`, `dst6=::/0`): the reference's client
 * leaves it out ("does not limit to any host"), so a rule meant for every
 * host of one address family reached core as a rule for every host of
 * both (qubes-issues#9323). Core reads the prefix-0 destination as that
 * family only, in firewall.xml and in Set alike.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Rule.rule, api_rule,
 * from_api_string); qubesadmin/firewall.py (Rule.rule);
 * shared/spec/firewall-and-devices.md A3.
 */
import { QubesValueError } from '../errors.js';
import { isRuleField, makeRule, type Rule, type RuleFields } from './rule.js';

type Part = (r: Rule) => string | undefined;

const action: Part = (r) => `action=${r.action}`;
const host: Part = (r) => r.dsthost && `${r.dsthost.type}=${r.dsthost.text}`;
const proto: Part = (r) => r.proto && `proto=${r.proto}`;
const special: Part = (r) => r.specialtarget && `specialtarget=${r.specialtarget}`;
const ports: Part = (r) => r.dstports && `dstports=${r.dstports.first}-${r.dstports.last}`;
const icmp: Part = (r) => (r.icmptype === undefined ? undefined : `icmptype=${r.icmptype}`);
const expire: Part = (r) => (r.expire === undefined ? undefined : `expire=${r.expire}`);
const comment: Part = (r) => r.comment && `comment=${r.comment}`;

const join = (parts: Part[]) => (r: Rule) =>
  parts
    .map((p) => p(r))
    .filter((s) => s !== undefined)
    .join(' ');

/** What the net qube's agent reads (expiry and comment are not part of it). */
export const qubesDbForm: (r: Rule) => string = join([action, host, proto, special, ports, icmp]);
/** What admin.vm.firewall.Get returns. */
export const apiForm: (r: Rule) => string = join([action, expire, host, proto, special, ports, icmp, comment]);
/** What the client sends and `qvm-firewall --raw` prints. */
export const clientForm: (r: Rule) => string = join([action, proto, host, ports, icmp, special, expire, comment]);

/** Host keys that are aliases of dsthost (not checked against the value: `dst4=example.com` is a host name). */
const HOST_ALIASES = ['dst4', 'dst6', 'dstname'];

/**
 * Parse one rule in any of the three forms (core's from_api_string).
 * Everything after the first `comment=` is the comment, spaces included;
 * the rest is split on single spaces, each token at its first `=`.
 * @throws QubesValueError (repeated or unknown key, bad token, bad value)
 */
export function parseRuleText(untrusted: string): Rule {
  const at = untrusted.indexOf('comment=');
  const options = at === -1 ? untrusted : untrusted.slice(0, at);
  const fields: RuleFields = {};
  if (at !== -1 && untrusted.length > at + 8) fields.comment = untrusted.slice(at + 8);
  for (const token of options.trim().split(' ')) {
    const eq = token.indexOf('=');
    if (eq === -1) throw new QubesValueError(`invalid rule element: '${token}'`);
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    const field = HOST_ALIASES.includes(key) ? 'dsthost' : key;
    if (!isRuleField(field)) throw new QubesValueError('Unknown firewall option');
    if (fields[field] !== undefined) throw new QubesValueError(`Option '${field}' already set`);
    fields[field] = value;
  }
  return makeRule(fields);
}
