// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The RULE words of `qvm-firewall add` and `del`: each word is `key=value`
 * or a bare value. Bare values fill the next slot not yet filled of
 * `action, dsthost, proto, dstports, icmptype`; once proto is tcp or udp
 * the icmptype slot goes, once it is icmp the dstports slot goes. So
 * `accept qubes-os.org tcp 443` is action, host, proto, port (and, as in
 * the reference, `accept tcp` makes `tcp` the host).
 *
 * `dst4` and `dst6` are aliases of dsthost. `expire=+N` means N seconds
 * from now. A comment with spaces must be one shell word; it cannot hold
 * `=`.
 *
 * Reference: qubesadmin/tools/qvm_firewall.py (RuleAction);
 * shared/spec/firewall-and-devices.md A8.
 */
import { FirewallRuleSyntaxError, QubesValueError } from '../errors.js';
import { makeRule, type Rule, type RuleField, type RuleFields } from './rule.js';

const SLOTS: readonly RuleField[] = ['action', 'dsthost', 'proto', 'dstports', 'icmptype'];
const KEYS: readonly string[] = [...SLOTS, 'specialtarget', 'comment', 'expire'];
/** Every key a word may name (dst4 and dst6 are aliases of dsthost), for completion. */
export const RULE_WORD_KEYS: readonly string[] = [...KEYS, 'dst4', 'dst6'];

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
    if (key === 'dst4' || key === 'dst6') key = 'dsthost';
    if (!KEYS.includes(key)) throw new FirewallRuleSyntaxError(`Invalid rule element: ${word}`);
    if (key === 'expire') value = absoluteExpire(value, nowMs);
    fields[key as RuleField] = value;
    slots = slots.filter((s) => s !== key);
    if (key === 'proto' && (value === 'tcp' || value === 'udp')) slots = slots.filter((s) => s !== 'icmptype');
    else if (key === 'proto' && value === 'icmp') slots = slots.filter((s) => s !== 'dstports');
  }
  return makeRule(fields);
}
