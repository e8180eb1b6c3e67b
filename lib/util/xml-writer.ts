// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Writing XML in the shape lxml's pretty printer gives the reference writer:
 * no declaration, 2-space indentation, one element per line, a trailing
 * newline, elements without content self-closed, but an element whose text
 * is the empty string written as an open/close pair
 * (`<property name="netvm"></property>`). Text is written as it is (never
 * re-indented), so it survives any number of saves.
 *
 * Reference: shared/spec/store-and-core-tools.md §1.1.
 */

export interface XmlNode {
  name: string;
  attrs?: readonly [string, string][];
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

/** ` k="v"` for each attribute, escaped. */
export function attrText(list: readonly [string, string][] | undefined): string {
  let s = '';
  for (const [k, v] of list ?? []) s += ` ${k}="${escapeAttr(v)}"`;
  return s;
}

/** One childless element on its own line. */
export const element = (indent: string, name: string, attrs: string, text: string | undefined): string =>
  text === undefined ? `${indent}<${name}${attrs}/>\n` : `${indent}<${name}${attrs}>${escapeText(text)}</${name}>\n`;

/** An element holding the given (already indented) child lines; self-closed when there are none. */
export const container = (indent: string, name: string, attrs: string, inner: string, text = ''): string =>
  inner === '' && text === ''
    ? `${indent}<${name}${attrs}/>\n`
    : `${indent}<${name}${attrs}>${escapeText(text)}\n${inner}${indent}</${name}>\n`;

/** A whole tree, its root at `indent`. */
export function serializeXml(node: XmlNode, indent = ''): string {
  const children = node.children ?? [];
  if (children.length === 0) return element(indent, node.name, attrText(node.attrs), node.text);
  const inner = children.map((c) => serializeXml(c, indent + '  ')).join('');
  return container(indent, node.name, attrText(node.attrs), inner, node.text ?? '');
}
