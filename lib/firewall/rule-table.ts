// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The rules as `qvm-firewall list` shows them: numbered from 0, `-` for
 * fields not set, the host as stored (`/32` on addresses), ports short
 * (`443`, `80-90`), expiry relative to now (`+3599s`).
 *
 * Reference: qubesadmin/tools/qvm_firewall.py (rules_list_table),
 * qubesadmin/firewall.py (pretty_value); shared/spec/firewall-and-devices.md A8.
 */
import { portsText, type Rule } from './rule.js';

export const TABLE_HEADER = ['NO', 'ACTION', 'HOST', 'PROTOCOL', 'PORT(S)', 'SPECIAL TARGET', 'ICMP TYPE', 'EXPIRE', 'COMMENT'];

/** Python's `'{:+.0f}'`: rounding half to even, the sign kept on a negative zero. */
function signedWhole(x: number): string {
  const r = Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  return `${x < 0 || Object.is(x, -0) ? '-' : '+'}${Math.abs(r)}`;
}

/** Seconds from now to `expire`, as `+Ns` or `-Ns`. */
export const relativeExpire = (expire: number, nowMs: number): string => `${signedWhole(expire - nowMs / 1000)}s`;

/** One rule as `qvm-firewall list --format json` shows it: the fields of firewall.xml, every key present (null: not set). */
export interface RuleFacts {
  number: number;
  action: string;
  dsthost: string | null;
  proto: string | null;
  /** `443` or `80-90`, as the rule's text spells it. */
  dstports: string | null;
  specialtarget: string | null;
  icmptype: number | null;
  /** Seconds since the epoch. */
  expire: number | null;
  comment: string | null;
}

export const ruleFacts = (rules: readonly Rule[]): RuleFacts[] =>
  rules.map((r, i) => ({
    number: i,
    action: r.action,
    dsthost: r.dsthost?.text ?? null,
    proto: r.proto ?? null,
    dstports: r.dstports ? portsText(r.dstports) : null,
    specialtarget: r.specialtarget ?? null,
    icmptype: r.icmptype ?? null,
    expire: r.expire ?? null,
    comment: r.comment ?? null,
  }));

/** Header and one row per rule. */
export function ruleTable(rules: readonly Rule[], nowMs: number): string[][] {
  const cell = (v: string | number | undefined) => (v === undefined ? '-' : String(v));
  return [
    TABLE_HEADER,
    ...rules.map((r, i) => [
      String(i),
      r.action,
      cell(r.dsthost?.text),
      cell(r.proto),
      cell(r.dstports && portsText(r.dstports)),
      cell(r.specialtarget),
      cell(r.icmptype),
      r.expire === undefined ? '-' : relativeExpire(r.expire, nowMs),
      cell(r.comment),
    ]),
  ];
}
