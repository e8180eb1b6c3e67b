// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * IPv4 and IPv6 address text, read the way the reference reads it: as
 * glibc's inet_pton (the firewall's check) and Python's ipaddress (the
 * `ip`/`ip6` properties) both do, which agree on everything a qube can
 * use:
 *
 * - IPv4: exactly four decimal parts 0–255, no leading zeros (`010.0.0.1`
 *   is refused: some readers take it as octal), nothing around them.
 * - IPv6: up to eight groups of 1–4 hex digits, at most one `::` standing
 *   for one or more zero groups, optionally ending in an IPv4 address that
 *   fills the last two groups. A zone (`fe80::1%eth0`) is refused: it is
 *   not an address of a qube or a destination (Node's net.isIPv6 and
 *   Python accept it, inet_pton does not).
 *
 * One parser for the firewall rules (lib/firewall/rule.ts) and the qube
 * address properties (lib/vm/vm-properties.ts), so the two can never
 * disagree about what an address is.
 */

/** The four bytes of a dotted-quad IPv4 address, or undefined when `s` is not one. */
export function parseIPv4(s: string): number[] | undefined {
  // One pass over the characters (firewall files hold 100,000 addresses).
  const bytes: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; // the end closes the last part like a dot
    if (c === 0x2e /* . */) {
      if (digits === 0 || bytes.length === 4) return undefined;
      bytes.push(value);
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - 0x30);
      if (value > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  return bytes.length === 4 ? bytes : undefined;
}

const GROUP_RE = /^[0-9A-Fa-f]{1,4}$/;

/** Groups of a `:`-separated run (no `::` inside); an IPv4 tail counts as two groups when allowed. */
function groupsOf(text: string, ipv4Tail: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (ipv4Tail && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIPv4(p);
      if (!v4) return undefined;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    } else {
      if (!GROUP_RE.test(p)) return undefined;
      groups.push(parseInt(p, 16));
    }
  }
  return groups;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when `s` is not one. */
export function parseIPv6(s: string): number[] | undefined {
  if (!s.includes(':')) return undefined;
  const at = s.indexOf('::');
  if (at === -1) {
    const groups = groupsOf(s, true);
    return groups && groups.length === 8 ? groups : undefined;
  }
  if (s.indexOf('::', at + 1) !== -1) return undefined;
  const head = groupsOf(s.slice(0, at), false);
  const tail = groupsOf(s.slice(at + 2), true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

export const isIPv4 = (s: string): boolean => parseIPv4(s) !== undefined;
export const isIPv6 = (s: string): boolean => parseIPv6(s) !== undefined;

/**
 * The canonical text of an IPv6 address (RFC 5952, as Python's
 * `str(IPv6Address)` writes it): lower case, no leading zeros, the first
 * longest run of two or more zero groups written `::`. Undefined when `s`
 * is not an address.
 */
export function canonicalIPv6(s: string): string | undefined {
  const groups = parseIPv6(s);
  if (!groups) return undefined;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  return best === -1 ? hex(groups) : `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}
