// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Addresses derived from qid/dispid and the netvm loop rule.
 * Reference: qubes-core-admin: qubes/vm/mix/net.py;
 * shared/spec/store-and-core-tools.md §3.2.
 */
import { QubesPropertyValueError } from '../errors.js';
import type { QubesVM } from './qubes-vm.js';

/** `P.0.n` for n < 255, else spread over two octets avoiding .0 and .255. */
export function ipv4For(prefix: string, n: number): string {
  if (n < 255) return `${prefix}.0.${n}`;
  return `${prefix}.${Math.floor((n - 1) / 254)}.${((n - 1) % 254) + 1}`;
}

const isDisp = (vm: QubesVM) => vm.klass === 'DispVM' && vm.props.has('dispid');

export function addressFor(vm: QubesVM): string {
  return isDisp(vm) ? ipv4For('10.138', Number(vm.get('dispid'))) : ipv4For('10.137', vm.qid);
}

export function ipv6For(vm: QubesVM): string {
  return isDisp(vm)
    ? `fd09:24ef:4179::a8a:${Number(vm.get('dispid')).toString(16)}`
    : `fd09:24ef:4179::a89:${vm.qid.toString(16)}`;
}

/**
 * Refuse `vm.netvm = target` when target's netvm chain leads back to vm.
 * @throws QubesPropertyValueError
 */
export function netvmLoopCheck(vm: QubesVM, target: QubesVM): void {
  const seen = new Set<QubesVM>();
  for (let cur: QubesVM | null = target; cur && !seen.has(cur); cur = cur.netvmVm()) {
    if (cur === vm) throw new QubesPropertyValueError('Loops in network are unsupported');
    seen.add(cur);
  }
}
