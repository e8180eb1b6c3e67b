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
 * Only what XML 1.0 allows is accepted, so that everything this reader
 * takes (and the writer later writes back) also parses with lxml, which the
 * reference and every other tool use: the characters XML 1.0 forbids (C0
 * controls other than tab, newline and carriage return, lone surrogates,
 * U+FFFE and U+FFFF) are refused raw and as character references (`&#1;`),
 * and bytes are decoded as strict UTF-8 (invalid sequences are refused,
 * never turned into U+FFFD). Each refusal names the line and column.
 *
 * Sizes are bounded as libxml2 (lxml) bounds them, so what this reader
 * accepts, and the writer writes back, never exceeds what lxml reads:
 * at most MAX_DEPTH levels of nesting, names of at most MAX_NAME
 * characters, start tags and runs of text of at most MAX_PIECE characters.
 *
 * Positions: the scanner works with offsets; a line number costs a scan
 * from the start of the document, so it is computed only for a message
 * (`lineAt`). Computing it per element made parsing quadratic (24 s for a
 * firewall.xml of 10,000 rules).
 *
 * Reference: shared/spec/store-and-core-tools.md §1.1 (readers must accept a
 * declaration; the reference writer never emits one); XML 1.0 §2.2 (Char).
 */

import buffer from 'node:buffer';
const { isUtf8 } = buffer;

export interface XmlElement {
  name: string;
  /** Attributes in document order. */
  attrs: [string, string][];
  children: XmlElement[];
  /** Character data directly inside this element (indentation dropped). */
  text: string;
  /** Offset of the start tag in the document: `lineAt(src, pos)` for messages. */
  pos: number;
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
/** Nesting depth (libxml2 refuses beyond 256 without XML_PARSE_HUGE). */
export const MAX_DEPTH = 256;
/** Element and attribute names (libxml2: 50,000). */
export const MAX_NAME = 1000;
/** A start tag with its attributes, or a run of text between tags (libxml2: about 10,000,000). */
export const MAX_PIECE = 1_000_000;
const LONG_NAME_RE = new RegExp(`[A-Za-z_:][-A-Za-z0-9_:.]{${MAX_NAME},}`);
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * A character XML 1.0 does not allow (§2.2 Char): C0 controls but tab,
 * newline and carriage return; lone surrogates (with the `u` flag a
 * well-formed pair is one code point and does not match); U+FFFE, U+FFFF.
 */
export const FORBIDDEN_CHAR_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ud800-\udfff\ufffe\uffff]/u;

/** Whether a code point may appear in an XML 1.0 document. */
export const isXmlChar = (cp: number): boolean =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

/** `U+0001` */
export const codePointName = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** A fault inside a piece of the document; `offset` is relative to that piece. */
class PieceError extends SyntaxError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Replace entity and character references.
 * @throws SyntaxError on a bare `&` or a reference to a character XML 1.0 forbids
 */
export function decodeEntities(raw: string): string {
  if (raw.indexOf('&') === -1) return raw;
  return raw.replace(ENTITY_RE, (m, ent: string | undefined, offset: number) => {
    if (ent === undefined) throw new PieceError('bare "&" (use &amp;)', offset);
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      if (!isXmlChar(cp)) throw new PieceError(`character reference ${m} names a character XML 1.0 does not allow`, offset);
      return String.fromCodePoint(cp);
    }
    return PREDEFINED[ent] as string;
  });
}

/** An offset of `src` as a 1-based line and column (in UTF-16 code units). */
function position(src: string, at: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = src.indexOf('\n'); i !== -1 && i < at; i = src.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: at - lineStart + 1 };
}

/** Length of the valid UTF-8 prefix of `b` (the offset of the first bad byte). */
function validUtf8Prefix(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return i;
}

/**
 * Bytes → text as strict UTF-8 (a leading byte order mark is kept for the
 * scanner to skip).
 * @throws XmlSyntaxError at the first invalid sequence
 */
export function decodeXmlBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // isUtf8 is native and strict (no surrogates, no overlong forms); TextDecoder's fatal mode costs ~20 ms to load.
  if (isUtf8(buf)) return buf.toString('utf8');
  const bad = validUtf8Prefix(bytes);
  const before = buf.subarray(0, bad).toString('utf8');
  const { line, column } = position(before, before.length);
  throw new XmlSyntaxError(`invalid UTF-8 (byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')})`, line, column);
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

/** 1-based line of an offset (only computed for messages: it scans from the start). */
export const lineAt = (src: string, at: number): number => position(src, at).line;

/**
 * Scan a whole document, reporting events to `h`. Bytes are decoded as
 * strict UTF-8 first. Errors thrown by the handler (other than SyntaxError)
 * pass through unchanged.
 * @throws XmlSyntaxError on anything that is not well-formed
 */
export function scanXml(input: string | Uint8Array, h: XmlHandler): void {
  const src = typeof input === 'string' ? input : decodeXmlBytes(input);
  const n = src.length;
  const stack: string[] = [];
  let pos = src.charCodeAt(0) === 0xfeff ? 1 : 0;
  let at = pos;
  let seenRoot = false;
  const fail = (reason: string, p: number): never => {
    const { line: l, column } = position(src, p);
    throw new XmlSyntaxError(reason, l, column);
  };
  // One pass over the whole document, so no piece needs its own check.
  const bad = FORBIDDEN_CHAR_RE.exec(src);
  if (bad) fail(`character ${codePointName(bad[0].codePointAt(0) as number)} is not allowed in XML 1.0`, bad.index);
  /** Decode a piece starting at `p`, placing its faults exactly. */
  const decode = (raw: string, p: number): string => {
    try {
      return decodeEntities(raw);
    } catch (e) {
      if (e instanceof PieceError) fail(e.message, p + e.offset);
      throw e;
    }
  };
  /** Length of the text since the last tag (pieces split by comments or CDATA count together). */
  let run = 0;
  const counted = (length: number, p: number) => {
    run += length;
    if (run > MAX_PIECE) fail(`text longer than ${MAX_PIECE} characters`, p);
  };
  const text = (raw: string, p: number) => {
    if (stack.length === 0) {
      if (NOT_SPACE_RE.test(raw)) fail(seenRoot ? 'text after the root element' : 'text before the root element', p);
      return;
    }
    counted(raw.length, p);
    h.text(decode(raw, p));
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
          const dashes = src.indexOf('--', lt + 4);
          if (dashes < end) fail('"--" inside a comment', dashes);
          pos = end + 3;
        } else if (src.startsWith('<![CDATA[', lt)) {
          const end = src.indexOf(']]>', lt + 9);
          if (end === -1) fail('unterminated CDATA section', lt);
          if (stack.length === 0) fail('CDATA outside the root element', lt);
          counted(end - lt - 9, lt);
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
        if (/^<\?xml[\s?]/i.test(src.slice(lt, lt + 6)) && src.slice(0, lt).replace(/^\ufeff/, '') !== '')
          fail('XML declaration not at the start of the document', lt);
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
            run = 0;
            continue;
          }
        }
      }
      TAG_RE.lastIndex = lt;
      const m = TAG_RE.exec(src);
      if (!m) fail(c === 0x2f ? 'malformed end tag' : 'malformed start tag', lt);
      const match = m as RegExpExecArray;
      const name = match[2] as string;
      const rawAttrs = match[3] as string;
      pos = TAG_RE.lastIndex;
      run = 0;
      if (name.length > MAX_NAME || (rawAttrs.length > MAX_NAME && LONG_NAME_RE.test(rawAttrs.replace(/"[^"]*"|'[^']*'/g, ''))))
        fail(`name longer than ${MAX_NAME} characters`, lt);
      if (match[0].length > MAX_PIECE) fail(`start tag longer than ${MAX_PIECE} characters`, lt);
      if (match[1]) {
        if (rawAttrs || match[4]) fail('malformed end tag', lt);
        const open = stack.pop();
        if (open === undefined) fail(`unexpected end tag </${name}>`, lt);
        if (open !== name) fail(`end tag </${name}> does not match <${open}>`, lt);
        h.close(name);
        continue;
      }
      if (stack.length === 0 && seenRoot) fail('more than one root element', lt);
      if (stack.length >= MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH} levels`, lt);
      seenRoot = true;
      // Handlers decode attributes when they need them; check references here, where the position is known.
      if (rawAttrs.indexOf('&') !== -1) decode(rawAttrs, lt + 1 + name.length);
      h.open(name, rawAttrs, lt);
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

/** Shared by every element without children or attributes (frozen: a tree is read, never edited). */
const NONE: never[] = Object.freeze([]) as unknown as never[];
/** Distinct attribute texts and short texts remembered per document (bounded). */
const CACHE_LIMIT = 4096;
const SHORT_TEXT = 32;

/**
 * Builds a tree from events; also used to keep unknown subtrees of qubes.xml.
 *
 * Lean on purpose: a 100,000-rule firewall.xml is 600,000 elements, and
 * the time went to the garbage collector copying what they keep alive. So
 * elements without children or attributes share one empty (frozen) array,
 * elements with the same attribute text share one (frozen) parsed list,
 * and equal short texts are one string.
 */
export class TreeBuilder implements XmlHandler {
  readonly stack: XmlElement[] = [];
  root: XmlElement | undefined;
  /**
   * Children of the open elements, collected here and handed over at
   * close as an array of exactly their number (a pushed-to array keeps
   * room for 17, which for 200,000 one-child rules is most of the tree).
   */
  private readonly pending: XmlElement[] = [];
  /** Where each open element's children start in `pending`. */
  private readonly starts: number[] = [];
  private readonly attrCache = new Map<string, [string, string][]>();
  private readonly textCache = new Map<string, string>();

  private attrsOf(rawAttrs: string): [string, string][] {
    if (rawAttrs === '') return NONE;
    let attrs = this.attrCache.get(rawAttrs);
    if (attrs === undefined) {
      attrs = Object.freeze(parseAttrs(rawAttrs)) as [string, string][];
      if (this.attrCache.size < CACHE_LIMIT) this.attrCache.set(rawAttrs, attrs);
    }
    return attrs;
  }

  open(name: string, rawAttrs: string, pos: number): void {
    const el: XmlElement = { name, attrs: this.attrsOf(rawAttrs), children: NONE, text: '', pos };
    const parent = this.stack[this.stack.length - 1];
    if (parent) {
      // Whitespace before the first child was indentation, not content.
      if (this.pending.length === this.starts[this.starts.length - 1] && !NOT_SPACE_RE.test(parent.text)) parent.text = '';
      this.pending.push(el);
    } else {
      this.root = el;
    }
    this.stack.push(el);
    this.starts.push(this.pending.length);
  }
  text(data: string): void {
    const top = this.stack[this.stack.length - 1] as XmlElement;
    const childless = this.pending.length === this.starts[this.starts.length - 1];
    if (childless || NOT_SPACE_RE.test(data)) top.text = top.text === '' ? data : top.text + data;
  }
  close(): void {
    const el = this.stack.pop() as XmlElement;
    const start = this.starts.pop() as number;
    if (this.pending.length > start) el.children = this.pending.splice(start);
    const t = el.text;
    if (t !== '' && t.length <= SHORT_TEXT) {
      const same = this.textCache.get(t);
      if (same !== undefined) el.text = same;
      else if (this.textCache.size < CACHE_LIMIT) this.textCache.set(t, t);
    }
  }
  get done(): boolean {
    return this.stack.length === 0;
  }
}

/**
 * Parse a whole document (text, or bytes decoded as strict UTF-8) and
 * return its root element.
 * @throws XmlSyntaxError on anything that is not well-formed
 */
export function parseXml(src: string | Uint8Array): XmlElement {
  const b = new TreeBuilder();
  scanXml(src, b);
  return b.root as XmlElement;
}
