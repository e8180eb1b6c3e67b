// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Writing XML in the shape lxml's pretty printer gives the reference writer:
 * no declaration, 2-space indentation, one element per line, a trailing
 * newline, elements without content self-closed, but an element whose text
 * is the empty string written as an open/close pair
 * (`<property name="netvm"></property>`). Text is written as it is (never
 * re-indented), so it survives any number of saves.
 *
 * Only XML 1.0 is ever written: a value holding a character XML 1.0 does
 * not allow (C0 controls but tab, newline and carriage return, lone
 * surrogates, U+FFFE, U+FFFF; none of them can be written even as a
 * character reference) makes the writer throw XmlWriteError before any
 * output exists. This is the one guarantee for every writer (qubes.xml,
 * firewall.xml, stores restored from backups, elements kept verbatim);
 * the commands refuse such values earlier with their own words.
 *
 * Reference: shared/spec/store-and-core-tools.md §1.1.
 */
import { QubesValueError } from '../errors.js';
import { codePointName, FORBIDDEN_CHAR_RE } from './xml-reader.js';

export interface XmlNode {
  name: string;
  attrs?: readonly [string, string][];
  children?: XmlNode[];
  /** undefined: no text (self-closing when childless); '' gives `<a></a>`. */
  text?: string;
}

/** A value cannot be written: it holds a character XML 1.0 does not allow. */
export class XmlWriteError extends QubesValueError {
  override name = 'XmlWriteError';
  override readonly code: string = 'EQUBES_XML_WRITE';
}

/** Cheap first test (surrogate pairs match too; checkChars tells them apart). */
const SUSPECT_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/;

/**
 * Text and attribute values that are written as they are: nothing to
 * escape and nothing to check (SUSPECT_RE's characters are among those
 * refused here). Nearly every value of a store is one; testing this first
 * spares the writer the checks and, at its callers, making `where`
 * functions for messages that cannot occur (saving 1004 qubes writes
 * ~40,000 values).
 */
const PLAIN_TEXT_RE = /^[^&<>\r\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]*$/;
const PLAIN_ATTR_RE = /^[^&<>"\n\r\t\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]*$/;
export const isPlainText = (s: string): boolean => PLAIN_TEXT_RE.test(s);
export const isPlainAttr = (s: string): boolean => PLAIN_ATTR_RE.test(s);

/** @throws XmlWriteError naming the character and `where` it was to be written */
function checkChars(s: string, where: () => string): void {
  if (!SUSPECT_RE.test(s)) return;
  const bad = FORBIDDEN_CHAR_RE.exec(s);
  if (bad) throw new XmlWriteError(`${where()} holds the character ${codePointName(bad[0].codePointAt(0) as number)}, which XML 1.0 does not allow`);
}

/** Text content, escaped. @throws XmlWriteError (`where` names the element) */
export function escapeText(s: string, where: () => string = () => 'a text'): string {
  checkChars(s, where);
  return /[&<>\r]/.test(s) ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;') : s;
}

/** An attribute value, escaped. @throws XmlWriteError (`where` names the attribute) */
export function escapeAttr(s: string, where: () => string = () => 'an attribute value'): string {
  checkChars(s, where);
  return /[&<>"\n\r\t]/.test(s)
    ? s
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/\n/g, '&#10;')
        .replace(/\r/g, '&#13;')
        .replace(/\t/g, '&#9;')
    : s;
}

/** ` k="v"` for each attribute, escaped. */
export function attrText(list: readonly [string, string][] | undefined): string {
  let s = '';
  for (const [k, v] of list ?? []) s += ` ${k}="${isPlainAttr(v) ? v : escapeAttr(v, () => `attribute ${k}`)}"`;
  return s;
}

const textOf = (name: string, attrs: string) => () => `the text of <${name}${attrs}>`;

/** One childless element on its own line. */
export const element = (indent: string, name: string, attrs: string, text: string | undefined): string =>
  text === undefined
    ? `${indent}<${name}${attrs}/>\n`
    : `${indent}<${name}${attrs}>${isPlainText(text) ? text : escapeText(text, textOf(name, attrs))}</${name}>\n`;

/** An element holding the given (already indented) child lines; self-closed when there are none. */
export const container = (indent: string, name: string, attrs: string, inner: string, text = ''): string =>
  inner === '' && text === ''
    ? `${indent}<${name}${attrs}/>\n`
    : `${indent}<${name}${attrs}>${text === '' ? '' : escapeText(text, textOf(name, attrs))}\n${inner}${indent}</${name}>\n`;

/** A whole tree, its root at `indent`. */
export function serializeXml(node: XmlNode, indent = ''): string {
  const children = node.children ?? [];
  if (children.length === 0) return element(indent, node.name, attrText(node.attrs), node.text);
  const inner = children.map((c) => serializeXml(c, indent + '  ')).join('');
  return container(indent, node.name, attrText(node.attrs), inner, node.text ?? '');
}
