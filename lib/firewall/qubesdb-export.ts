// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's rules as its net qube's QubesDB receives them, per address
 * family of the qube (IPv4 `vm.ip`, IPv6 `vm.ip6`; a family without an
 * address is skipped):
 *
 *   1. remove the children of `/qubes-firewall/IP/`
 *   2. write `/qubes-firewall/IP/policy` = `drop` and
 *      `/qubes-firewall/IP/NNNN` = the rule in QubesDB form
 *   3. write `/qubes-firewall/IP` = "" (the agent reloads on this)
 *
 * NNNN is the rule's index in the whole list, zero-padded to four digits.
 * Expired rules, and rules for the other family's addresses (`dst6` in the
 * IPv4 tree, `dst4` in the IPv6 tree), are skipped but still counted, so
 * the numbers have gaps (consumers sort numerically); host-name rules go to
 * both trees.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Firewall.qdb_entries),
 * qubes/vm/mix/net.py (reload_firewall_for_vm);
 * shared/spec/firewall-and-devices.md A5.
 */
import { isExpired } from './expiry.js';
import { qubesDbForm } from './rule-text.js';
import type { Rule } from './rule.js';

export type AddressFamily = 4 | 6;

/** The policy after the last rule; fixed since R4.0. */
export const POLICY = 'drop';

/**
 * Entries relative to `/qubes-firewall/IP/`: `policy` first, then the rules
 * by number. Without a family, rules of both families are included.
 */
export function qdbEntries(rules: readonly Rule[], family: AddressFamily | undefined, nowMs: number): [string, string][] {
  const exclude = family === 4 ? 'dst6' : family === 6 ? 'dst4' : undefined;
  const entries: [string, string][] = [['policy', POLICY]];
  rules.forEach((r, i) => {
    if (isExpired(r, nowMs) || (r.dsthost && r.dsthost.type === exclude)) return;
    entries.push([String(i).padStart(4, '0'), qubesDbForm(r)]);
  });
  return entries;
}

/** The qube's own addresses (null: that family is not connected). */
export interface QubeAddresses {
  ip: string | null;
  ip6: string | null;
}

export type QdbOp = { op: 'rm'; path: string } | { op: 'write'; path: string; value: string };

/** Every QubesDB operation, in order, that loads these rules into the net qube. */
export function firewallQdbOps(addr: QubeAddresses, rules: readonly Rule[], nowMs: number): QdbOp[] {
  const ops: QdbOp[] = [];
  for (const [family, ip] of [
    [4, addr.ip],
    [6, addr.ip6],
  ] as const) {
    if (ip === null) continue;
    const base = `/qubes-firewall/${ip}`;
    ops.push({ op: 'rm', path: `${base}/` });
    for (const [key, value] of qdbEntries(rules, family, nowMs)) ops.push({ op: 'write', path: `${base}/${key}`, value });
    ops.push({ op: 'write', path: base, value: '' });
  }
  return ops;
}

/** The part of a QubesDB client the export needs (the net qube's database). */
export interface QubesDbWriter {
  /** Remove `path`, or with a trailing `/` every key below it. */
  rm(path: string): void | Promise<void>;
  write(path: string, value: string): void | Promise<void>;
}

/** Carry out the operations in order (the last write is the reload trigger, so it must come last). */
export async function applyQdbOps(qdb: QubesDbWriter, ops: readonly QdbOp[]): Promise<void> {
  for (const o of ops) {
    if (o.op === 'rm') await qdb.rm(o.path);
    else await qdb.write(o.path, o.value);
  }
}
