// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Serializes a tree in the shape lxml's pretty printer gives the reference
 * writer: no declaration, 2-space indentation, a trailing newline, elements
 * without content self-closed, but an element whose text is the empty string
 * written as an open/close pair (`<property name="netvm"></property>`).
 *
 * Reference: shared/spec/store-and-core-tools.md §1.1.
 */

export interface XmlNode {
  name: string;
  attrs?: [string, string][];
  children?: XmlNode[];
  /** undefined: no text (self-closing when childless); '' gives `<a></a>`. */
  text?: string;
}

export const escapeText = (s: string): string =>
  /[&<>\r]/.test(s) ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;') : s;

export const escapeAttr = (s: string): string =>
  /[&<>"\n\r\t]/.test(s)
    ? s
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/\n/g, '&#10;')
        .replace(/\r/g, '&#13;')
        .replace(/\t/g, '&#9;')
    : s;

function write(node: XmlNode, indent: string, out: string[]): void {
  let open = `${indent}<${node.name}`;
  for (const [k, v] of node.attrs ?? []) open += ` ${k}="${escapeAttr(v)}"`;
  const children = node.children ?? [];
  if (children.length === 0) {
    out.push(node.text === undefined ? `${open}/>\n` : `${open}>${escapeText(node.text)}</${node.name}>\n`);
    return;
  }
  out.push(`${open}>${node.text ? escapeText(node.text) : ''}\n`);
  const inner = indent + '  ';
  for (const c of children) write(c, inner, out);
  out.push(`${indent}</${node.name}>\n`);
}

export function serializeXml(root: XmlNode): string {
  const out: string[] = [];
  write(root, '', out);
  return out.join('');
}
