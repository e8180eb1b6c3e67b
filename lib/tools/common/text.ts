// SPDX-License-Identifier: GPL-2.0-or-later
/** Text layout shared by the help outputs (--help-columns, --help-properties). */

/**
 * Words of `text` filled into lines of at most `width` characters (a word
 * longer than that gets a line of its own).
 */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/)) {
    if (w === '') continue;
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}
