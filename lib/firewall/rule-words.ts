// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The RULE words of `qvm-firewall add` and `del`: each word is `key=value`
 * or a bare value. Bare values fill the next slot not yet filled of
 * `action, dsthost, proto, dstports, icmptype`; once proto is tcp or udp
 * the icmptype slot goes, once it is icmp the dstports slot goes. So
 * `accept qubes-os.org tcp 443` is action, host, proto, port (and, as in
 * the reference, `accept tcp` makes `tcp` the host).
 *
 * `dst4` and `dst6` are dsthost restricted to one address family: the
 * value must be an address or network of that family (`dst6=::/0` is every
 * IPv6 host). The reference takes them as plain aliases, so `dst4=` a host
 * name became a rule for both families; the stored format cannot say "this
 * name, IPv4 only", so that is refused. `expire=+N` means N seconds from
 * now. A comment with spaces must be one shell word; it cannot hold
 * `=`.
 *
 * Reference: qubesadmin/tools/qvm_firewall.py (RuleAction);
 * shared/spec/firewall-and-devices.md A8.
 */
import { FirewallRuleSyntaxError, QubesValueError } from '../errors.js';
import { makeRule, type HostType, type Rule, type RuleField, type RuleFields } from './rule.js';

const SLOTS: readonly RuleField[] = ['action', 'dsthost', 'proto', 'dstports', 'icmptype'];
const KEYS: readonly string[] = [...SLOTS, 'specialtarget', 'comment', 'expire'];
/** Every key a word may name (dst4 and dst6 are aliases of dsthost), for completion. */
export const RULE_WORD_KEYS: readonly string[] = [...KEYS, 'dst4', 'dst6'];

const FAMILY_KEYS: ReadonlyMap<string, { type: HostType; what: string }> = new Map([
  ['dst4', { type: 'dst4', what: 'an IPv4 address or network' }],
  ['dst6', { type: 'dst6', what: 'an IPv6 address or network' }],
]);

/** `+N` → now + N seconds (whole seconds, as the reference's strftime('%s')). */
function absoluteExpire(value: string, nowMs: number): string {
  if (!value.startsWith('+')) return value;
  if (!/^[0-9]+$/.test(value.slice(1))) throw new QubesValueError('bad expiration time');
  return String(Math.floor(nowMs / 1000) + Number(value.slice(1)));
}

/**
 * The rule the words describe.
 * @throws FirewallRuleSyntaxError for words that do not fit the syntax
 *   (a usage error), QubesValueError for values the rule model refuses
 */
export function ruleFromWords(words: readonly string[], nowMs: number): Rule {
  let slots = [...SLOTS];
  const fields: RuleFields = {};
  /** The key that gave the destination (the last one given wins, as for every key). */
  let hostKey = 'dsthost';
  for (const word of words) {
    const parts = word.split('=');
    let key: string;
    let value: string;
    if (parts.length === 1) {
      if (slots.length === 0) throw new FirewallRuleSyntaxError(`too many rule elements without a key: ${word}`);
      key = slots[0] as string;
      value = word;
    } else if (parts.length === 2 && parts[1] !== '') {
      [key, value] = parts as [string, string];
    } else {
      throw new FirewallRuleSyntaxError(`invalid rule description: ${word}`);
    }
    if (FAMILY_KEYS.has(key)) [hostKey, key] = [key, 'dsthost'];
    else if (key === 'dsthost') hostKey = key;
    if (!KEYS.includes(key)) throw new FirewallRuleSyntaxError(`Invalid rule element: ${word}`);
    if (key === 'expire') value = absoluteExpire(value, nowMs);
    fields[key as RuleField] = value;
    slots = slots.filter((s) => s !== key);
    if (key === 'proto' && (value === 'tcp' || value === 'udp')) slots = slots.filter((s) => s !== 'icmptype');
    else if (key === 'proto' && value === 'icmp') slots = slots.filter((s) => s !== 'dstports');
  }
  const rule = makeRule(fields);
  const want = FAMILY_KEYS.get(hostKey);
  if (want && rule.dsthost?.type !== want.type) throw new QubesValueError(`${hostKey} needs ${want.what}: '${fields.dsthost}'`);
  return rule;
}
