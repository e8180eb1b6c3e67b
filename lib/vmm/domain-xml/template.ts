// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A domain XML template as text with named, possibly nested blocks (the
 * reference's Jinja blocks: basic, cpu, os, features, clock, on, devices,
 * network), so an override file can replace one block and keep the rest.
 */
import { serializeXml, type XmlNode } from '../../util/xml-writer.js';

export interface Block {
  block: string;
  content: Segment[];
}

export type Segment = string | Block;

export const block = (name: string, ...content: Segment[]): Block => ({ block: name, content });

/** Element helper: `el('memory', [['unit', 'MiB']], '400')`, or with child nodes. */
export function el(name: string, attrs: [string, string][] = [], body?: string | (XmlNode | undefined | false)[]): XmlNode {
  if (typeof body === 'string') return { name, attrs, text: body };
  return { name, attrs, children: body?.filter((c): c is XmlNode => Boolean(c)) };
}

/** Elements as text lines at an indentation depth (2 spaces each). */
export function lines(depth: number, ...nodes: (XmlNode | undefined | false)[]): string {
  return nodes
    .filter((n): n is XmlNode => Boolean(n))
    .map((n) => serializeXml(n, '  '.repeat(depth)))
    .join('');
}

/**
 * The text of a template, each block's content taken from `override` when
 * it names the block (the override may include the original through
 * `parent`).
 */
export function expand(segments: Segment[], override?: (name: string, parent: () => string) => string | undefined): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'string') {
      out += s;
      continue;
    }
    const original = () => expand(s.content, override);
    out += override?.(s.block, original) ?? original();
  }
  return out;
}

/** Names of every block, nested ones included. */
export function blockNames(segments: Segment[]): string[] {
  return segments.flatMap((s) => (typeof s === 'string' ? [] : [s.block, ...blockNames(s.content)]));
}
