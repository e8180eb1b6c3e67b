// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A small, strict XML reader for the documents Qubes writes (qubes.xml,
 * firewall.xml): elements, attributes, text, the five predefined entities and
 * character references, comments, CDATA, processing instructions and a
 * DOCTYPE without an internal subset.
 *
 * Two layers: `scanXml` reports start tags, text and end tags to a handler
 * (checking well-formedness as it goes), and `parseXml` builds a plain tree
 * from those events. The qubes.xml loader consumes events directly, so
 * loading a 1000-qube store allocates only the model.
 *
 * Why not a general parser: fast-xml-parser needs ~30 ms to import and
 * ~140 ms to parse the 1004-qube sample store on the target machine, which
 * alone exceeds the qvm-ls budget (see bench/RESULTS.md).
 *
 * Reference: shared/spec/store-and-core-tools.md §1.1 (readers must accept a
 * declaration; the reference writer never emits one).
 */

export interface XmlElement {
  name: string;
  /** Attributes in document order. */
  attrs: [string, string][];
  children: XmlElement[];
  /** Character data directly inside this element (indentation dropped). */
  text: string;
  /** 1-based line of the start tag, for error messages. */
  line: number;
}

/** Malformed input; carries the position so users can find the fault. */
export class XmlSyntaxError extends SyntaxError {
  override name = 'XmlSyntaxError';
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} (line ${line}, column ${column})`);
  }
}

export interface XmlHandler {
  /**
   * `rawAttrs` is the undecoded attribute text (see parseAttrs, nameAttr);
   * `pos` the offset of the tag, for lineAt() in error messages.
   */
  open(name: string, rawAttrs: string, pos: number): void;
  /** Entity-decoded character data (may arrive in several pieces). */
  text(data: string): void;
  close(name: string): void;
}

/** A whole start or end tag in one match: 1 "/" for end tags, 2 name, 3 attributes, 4 "/" if self-closing. */
const TAG_RE = /<(\/?)([A-Za-z_:][-A-Za-z0-9_:.]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y;
const ATTR_RE = /([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;
const ENTITY_RE = /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);|&/g;
const NOT_SPACE_RE = /[^ \t\r\n]/;
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Replace entity and character references. @throws SyntaxError on a bare `&` */
export function decodeEntities(raw: string): string {
  if (raw.indexOf('&') === -1) return raw;
  return raw.replace(ENTITY_RE, (m, ent: string | undefined) => {
    if (ent === undefined) throw new SyntaxError('bare "&" (use &amp;)');
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      if (!(cp > 0 && cp <= 0x10ffff)) throw new SyntaxError(`invalid character reference ${m}`);
      return String.fromCodePoint(cp);
    }
    return PREDEFINED[ent] as string;
  });
}

/** All attributes of a start tag, decoded, in order. */
export function parseAttrs(rawAttrs: string): [string, string][] {
  const out: [string, string][] = [];
  if (!rawAttrs) return out;
  ATTR_RE.lastIndex = 0;
  for (let a = ATTR_RE.exec(rawAttrs); a; a = ATTR_RE.exec(rawAttrs)) {
    const key = a[1] as string;
    if (out.some(([k]) => k === key)) throw new SyntaxError(`duplicate attribute "${key}"`);
    out.push([key, decodeEntities(a[2] ?? a[3] ?? '')]);
  }
  return out;
}

export function attr(el: { attrs: [string, string][] }, name: string): string | undefined {
  for (const [k, v] of el.attrs) if (k === name) return v;
  return undefined;
}

const SOLE_NAME_RE = /^\s+name="([^"&<]*)"$/;

/** The `name` attribute; a fast path for the common `<x name="...">`. */
export function nameAttr(rawAttrs: string): string | undefined {
  const m = SOLE_NAME_RE.exec(rawAttrs);
  return m ? m[1] : attr({ attrs: parseAttrs(rawAttrs) }, 'name');
}

/** 1-based line of an offset (only computed for messages). */
export const lineAt = (src: string, at: number): number => position(src, at).line;

function position(src: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = src.indexOf('\n'); i !== -1 && i < at; i = src.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: at - lineStart + 1 };
}

/**
 * Scan a whole document, reporting events to `h`. Errors thrown by the
 * handler (other than SyntaxError) pass through unchanged.
 * @throws XmlSyntaxError on anything that is not well-formed
 */
export function scanXml(src: string, h: XmlHandler): void {
  const n = src.length;
  const stack: string[] = [];
  let pos = src.charCodeAt(0) === 0xfeff ? 1 : 0;
  let at = pos;
  let seenRoot = false;
  const fail = (reason: string, p: number): never => {
    const { line: l, column } = position(src, p);
    throw new XmlSyntaxError(reason, l, column);
  };
  const text = (raw: string, p: number) => {
    if (stack.length === 0) {
      if (NOT_SPACE_RE.test(raw)) fail(seenRoot ? 'text after the root element' : 'text before the root element', p);
      return;
    }
    h.text(decodeEntities(raw));
  };

  try {
    while (pos < n) {
      const lt = src.indexOf('<', pos);
      if (lt === -1) {
        text(src.slice(pos), pos);
        break;
      }
      if (lt > pos) text(src.slice(pos, lt), pos);
      at = lt;
      const c = src.charCodeAt(lt + 1);
      if (c === 0x21 /* ! */) {
        if (src.startsWith('<!--', lt)) {
          const end = src.indexOf('-->', lt + 4);
          if (end === -1) fail('unterminated comment', lt);
          pos = end + 3;
        } else if (src.startsWith('<![CDATA[', lt)) {
          const end = src.indexOf(']]>', lt + 9);
          if (end === -1) fail('unterminated CDATA section', lt);
          if (stack.length === 0) fail('CDATA outside the root element', lt);
          h.text(src.slice(lt + 9, end));
          pos = end + 3;
        } else if (src.startsWith('<!DOCTYPE', lt) && !seenRoot) {
          const end = src.indexOf('>', lt);
          if (end === -1 || src.slice(lt, end).includes('[')) fail('unsupported DOCTYPE', lt);
          pos = end + 1;
        } else {
          fail('malformed markup', lt);
        }
        continue;
      }
      if (c === 0x3f /* ? */) {
        const end = src.indexOf('?>', lt + 2);
        if (end === -1) fail('unterminated processing instruction', lt);
        pos = end + 2;
        continue;
      }
      if (c === 0x2f /* / */) {
        // End tags are half of all tags: match the expected name in place,
        // without a regex or any allocation.
        const open = stack[stack.length - 1];
        if (open !== undefined && src.startsWith(open, lt + 2)) {
          let p = lt + 2 + open.length;
          while (p < n && isSpace(src.charCodeAt(p))) p++;
          if (src.charCodeAt(p) === 0x3e /* > */) {
            stack.pop();
            h.close(open);
            pos = p + 1;
            continue;
          }
        }
      }
      TAG_RE.lastIndex = lt;
      const m = TAG_RE.exec(src);
      if (!m) fail(c === 0x2f ? 'malformed end tag' : 'malformed start tag', lt);
      const match = m as RegExpExecArray;
      const name = match[2] as string;
      pos = TAG_RE.lastIndex;
      if (match[1]) {
        if (match[3] || match[4]) fail('malformed end tag', lt);
        const open = stack.pop();
        if (open === undefined) fail(`unexpected end tag </${name}>`, lt);
        if (open !== name) fail(`end tag </${name}> does not match <${open}>`, lt);
        h.close(name);
        continue;
      }
      if (stack.length === 0 && seenRoot) fail('more than one root element', lt);
      seenRoot = true;
      h.open(name, match[3] as string, lt);
      if (match[4]) h.close(name);
      else stack.push(name);
    }
  } catch (e) {
    if (e instanceof SyntaxError && !(e instanceof XmlSyntaxError)) fail(e.message, at);
    throw e;
  }
  if (stack.length > 0) fail(`element <${stack[stack.length - 1]}> is not closed`, n);
  if (!seenRoot) fail('no root element (empty document)', 0);
}

/** Builds a tree from events; also used to keep unknown subtrees of qubes.xml. */
export class TreeBuilder implements XmlHandler {
  readonly stack: XmlElement[] = [];
  root: XmlElement | undefined;
  constructor(private readonly src: string) {}

  open(name: string, rawAttrs: string, pos: number): void {
    const el: XmlElement = { name, attrs: parseAttrs(rawAttrs), children: [], text: '', line: lineAt(this.src, pos) };
    const parent = this.stack[this.stack.length - 1];
    if (parent) {
      // Whitespace before the first child was indentation, not content.
      if (parent.children.length === 0 && !NOT_SPACE_RE.test(parent.text)) parent.text = '';
      parent.children.push(el);
    } else {
      this.root = el;
    }
    this.stack.push(el);
  }
  text(data: string): void {
    const top = this.stack[this.stack.length - 1] as XmlElement;
    if (top.children.length === 0 || NOT_SPACE_RE.test(data)) top.text += data;
  }
  close(): void {
    this.stack.pop();
  }
  get done(): boolean {
    return this.stack.length === 0;
  }
}

/**
 * Parse a whole document and return its root element.
 * @throws XmlSyntaxError on anything that is not well-formed
 */
export function parseXml(src: string): XmlElement {
  const b = new TreeBuilder(src);
  scanXml(src, b);
  return b.root as XmlElement;
}
