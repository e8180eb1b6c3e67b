// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * treeOrder: the order and depth of rows for `qvm-ls --tree`, which shows
 * qubes under the qube that gives them network.
 *
 * Qubes without a netvm that provide no network come first, flat; then
 * each network provider without a netvm is the root of a tree, followed
 * depth-first by the qubes connected to it. As in the reference, the walk
 * goes on only through qubes that provide network, and a qube whose netvm
 * chain reaches no listed root (e.g. its netvm was filtered out) is left
 * out. Children are grouped by netvm name in one pass, so the order costs
 * O(qubes); `seen` guards against listing a qube twice.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */
import { prop, type Row } from './row.js';

/** [row index, depth] pairs in display order; rows keep their (name) order among siblings. */
export function treeOrder(rows: readonly Row[]): [number, number][] {
  const children = new Map<string, number[]>();
  const roots: number[] = [];
  const netRoots: number[] = [];
  rows.forEach((r, i) => {
    const n = prop(r.vm, 'netvm');
    const provides = prop(r.vm, 'provides_network') === true;
    if (typeof n === 'string' && n !== '') {
      let c = children.get(n);
      if (!c) children.set(n, (c = []));
      c.push(i);
    } else (provides ? netRoots : roots).push(i);
  });
  const out: [number, number][] = roots.map((i) => [i, 0]);
  const seen = new Set<number>();
  const walk = (i: number, depth: number) => {
    if (seen.has(i)) return;
    seen.add(i);
    out.push([i, depth]);
    const r = rows[i] as Row;
    if (depth > 0 && prop(r.vm, 'provides_network') !== true) return;
    for (const c of children.get(r.vm.name) ?? []) walk(c, depth + 1);
  };
  for (const i of netRoots) walk(i, 0);
  return out;
}
