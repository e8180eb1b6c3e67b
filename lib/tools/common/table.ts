// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Tables as the reference prints them through `column -t`: every column but
 * the last padded to its widest cell, two spaces between columns, the last
 * column not padded (an empty last cell still gets its separator, so such
 * rows end in spaces). Reference: qubesadmin/tools print_table; spec §7.3.
 */
export function formatTable(rows: string[][]): string {
  if (rows.length === 0) return '';
  const ncol = Math.max(...rows.map((r) => r.length));
  const widths = new Array<number>(ncol).fill(0);
  for (const r of rows) for (let i = 0; i < r.length - 1; i++) widths[i] = Math.max(widths[i] as number, [...(r[i] as string)].length);
  let out = '';
  for (const r of rows) {
    let line = '';
    for (let i = 0; i < r.length; i++) {
      const cell = r[i] as string;
      line += i < r.length - 1 ? cell + ' '.repeat((widths[i] as number) - [...cell].length + 2) : cell;
    }
    out += line + '\n';
  }
  return out;
}
