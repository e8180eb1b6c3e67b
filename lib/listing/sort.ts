// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * sortOrder: the order of the rows for --sort, --reverse and --ignore-case.
 *
 * Sorting works on the cell texts already computed for output, so sorting
 * compares what the user sees and computes no cell twice. That is also why
 * a sort column that is not shown leaves the rows in name order, which is
 * what the reference does. The sort is stable: equal keys keep name order.
 *
 * Reference: qubesadmin/tools/qvm_ls.py; shared/spec/store-and-core-tools.md §8
 */

export interface SortOptions {
  sort?: string;
  reverse?: boolean;
  ignoreCase?: boolean;
}

/** Columns sorted as integers, so that 10 follows 9 and not 1. */
const NUMERIC = new Set([
  'MEMORY', 'DISK', 'PRIV-CURR', 'PRIV-MAX', 'PRIV-USED', 'ROOT-CURR', 'ROOT-MAX', 'ROOT-USED',
  'XID', 'QID', 'MAXMEM', 'QREXEC-TIMEOUT', 'SHUTDOWN-TIMEOUT', 'VCPUS', 'STUBDOM-MEM', 'DISPID',
]);

/** `-` and other non-numbers count as 0; the `%` of the *-USED columns is ignored. */
function numeric(s: string): number {
  const n = parseInt(s.endsWith('%') ? s.slice(0, -1) : s, 10);
  return Number.isNaN(n) ? 0 : n;
}

/** Row indices of `cells` (rows of cell texts under `heads`) in sort order. */
export function sortOrder(cells: readonly string[][], heads: readonly string[], opts: SortOptions): number[] {
  const order = cells.map((_c, i) => i);
  const sortHead = (opts.sort ?? 'NAME').toUpperCase().replace(/_/g, '-');
  const col = heads.indexOf(sortHead);
  if (col < 0) return order;
  const sign = opts.reverse ? -1 : 1;
  const key = (i: number) => (cells[i] as string[])[col] as string;
  // keys are computed once per row, not once per comparison
  if (NUMERIC.has(sortHead)) {
    const k = cells.map((_c, i) => numeric(key(i)));
    order.sort((a, b) => sign * ((k[a] as number) - (k[b] as number)));
  } else {
    const k = cells.map((_c, i) => (opts.ignoreCase ? key(i).toLowerCase() : key(i)));
    order.sort((a, b) => {
      const x = k[a] as string;
      const y = k[b] as string;
      return sign * (x < y ? -1 : x > y ? 1 : 0);
    });
  }
  return order;
}
