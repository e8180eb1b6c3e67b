// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Tables as the reference prints them through `column -t`: every column but
 * the last padded to its widest cell, two spaces between columns, the last
 * column not padded (an empty last cell still gets its separator, so such
 * rows end in spaces). Reference: qubesadmin/tools print_table; spec §7.3.
 */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  let ncol = 0;
  for (const r of rows) ncol = Math.max(ncol, r.length);
  const widths = new Array<number>(ncol).fill(0);
  for (const r of rows) for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] as number, width(r[i] as string));
  // One string grown by appending (V8 joins the pieces once, when it is
  // written) and one padding string per width: a 100,000-row table took a
  // quarter of `qvm-firewall Q list`'s time with a line array and repeat().
  const pads: string[] = [];
  let out = '';
  for (const r of rows) {
    const last = r.length - 1;
    for (let i = 0; i < last; i++) {
      const cell = r[i] as string;
      const n = (widths[i] as number) - width(cell) + 2;
      out += cell + (pads[n] ??= ' '.repeat(n));
    }
    out += last >= 0 ? `${r[last]}\n` : '\n';
  }
  return out;
}

/** Code points (what `[...cell].length` counts), without an array per cell: tables may have 100,000 rows. */
function width(cell: string): number {
  let n = cell.length;
  for (let i = 0; i < cell.length; i++) {
    const c = cell.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < cell.length) {
      const d = cell.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
