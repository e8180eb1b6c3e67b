// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * When rules stop applying. A rule with `expire` is expired once that
 * second lies strictly before now; from then on it is never exported or
 * listed, and the next save of the qube's rules drops it from the file.
 * Times are passed in (milliseconds since the epoch) so the clock can be
 * injected.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Expire.expired,
 * Firewall.save, _expire_rules); shared/spec/firewall-and-devices.md A6.
 */
import type { Rule } from './rule.js';

export const isExpired = (r: Rule, nowMs: number): boolean => r.expire !== undefined && r.expire * 1000 < nowMs;

/** The rules still in force (what Get returns and what a save keeps). */
export const activeRules = (rules: readonly Rule[], nowMs: number): Rule[] => rules.filter((r) => !isExpired(r, nowMs));

/** The earliest expiry (seconds) among rules not yet expired, if any. */
export function nextExpiry(rules: readonly Rule[], nowMs: number): number | undefined {
  let next: number | undefined;
  for (const r of rules) if (r.expire !== undefined && !isExpired(r, nowMs) && (next === undefined || r.expire < next)) next = r.expire;
  return next;
}
