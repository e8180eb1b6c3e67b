import { lineAt, parseXml, scanXml, XmlSyntaxError } from '../../lib/util/xml-reader.js';
import { serializeXml, XmlWriteError, type XmlNode } from '../../lib/util/xml-writer.js';

const syntaxError = (src: string) => {
  try {
    parseXml(src);
  } catch (e) {
    expect(e).toBeInstanceOf(XmlSyntaxError);
    return e as XmlSyntaxError;
  }
  throw new Error('parsed without error');
};

describe('parseXml()', () => {
  test('reads elements, attributes in order, text, entities, CDATA; skips declaration, comments, PIs, DOCTYPE', () => {
    const src =
      '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE qubes>\n<!-- c -->\n<qubes>\n  <a b="1" c=\'x &amp; &lt;y&gt; &#65;&#x42;\'>t &quot;q&quot; <![CDATA[<raw>&]]></a>\n  <?pi x?>\n  <e/>\n  <f></f>\n</qubes>\n';
    const root = parseXml(src);
    expect(root.name).toBe('qubes');
    const [a, e, f] = root.children;
    expect(a?.attrs).toEqual([
      ['b', '1'],
      ['c', 'x & <y> AB'],
    ]);
    expect(a?.text).toBe('t "q" <raw>&');
    expect(lineAt(src, a?.pos ?? -1)).toBe(5); // line numbers are computed from the offset, for messages only
    expect(e).toMatchObject({ name: 'e', text: '', children: [] });
    expect(f).toMatchObject({ name: 'f', text: '' });
    expect(root.text).toBe(''); // indentation is not content
  });

  test.each([
    ['', 'no root element', 1],
    ['<a><b></a>', 'end tag </a> does not match <b>', 1],
    ['<a>\n<b>\n</a>', 'end tag </a> does not match <b>', 3],
    ['<a>', 'element <a> is not closed', 1],
    ['<a/><b/>', 'more than one root element', 1],
    ['text<a/>', 'text before the root element', 1],
    ['<a x="1" x="2"/>', 'duplicate attribute "x"', 1],
    ['<a x=1/>', 'malformed start tag', 1],
    ['<a>&bogus;</a>', 'bare "&"', 1],
    ['<a>\n\n <!-- open</a>', 'unterminated comment', 3],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a/>', 'unsupported DOCTYPE', 1],
  ])('%j is refused: %s (line %d)', (src, reason, line) => {
    const e = syntaxError(src);
    expect(e.reason).toContain(reason);
    expect(e.line).toBe(line);
    expect(e.message).toMatch(/\(line \d+, column \d+\)$/);
  });

  test('scanXml() reports end tags in order, also for self-closing elements', () => {
    const events: string[] = [];
    scanXml('<a><b x="1"/><c>t</c></a>', {
      open: (n, raw) => events.push(`<${n}${raw}>`),
      text: (t) => events.push(t),
      close: (n) => events.push(`</${n}>`),
    });
    expect(events).toEqual(['<a>', '<b x="1">', '</b>', '<c>', 't', '</c>', '</a>']);
  });
});

describe('only XML 1.0: characters it forbids and invalid UTF-8 are refused with line and column', () => {
  test.each([
    ['<a>\n x\u0001y</a>', 'character U+0001 is not allowed in XML 1.0', 2, 3],
    ['<a b="\u001f"/>', 'character U+001F is not allowed', 1, 7],
    ['<a>\ud800</a>', 'character U+D800 is not allowed', 1, 4],
    ['<a>x\udc00</a>', 'character U+DC00 is not allowed', 1, 5],
    ['<a>\ufffe</a>', 'character U+FFFE is not allowed', 1, 4],
    ['<a>\uffff</a>', 'character U+FFFF is not allowed', 1, 4],
    ['<a>\n\n  v&#1;</a>', 'character reference &#1; names a character XML 1.0 does not allow', 3, 4],
    ['<a>&#x2;</a>', 'character reference &#x2;', 1, 4],
    ['<a>&#xFFFE;</a>', 'character reference &#xFFFE;', 1, 4],
    ['<a>&#xd800;</a>', 'character reference &#xd800;', 1, 4],
    ['<a>&#x110000;</a>', 'character reference &#x110000;', 1, 4],
    ['<a>&#0;</a>', 'character reference &#0;', 1, 4],
    ['<r>\n  <a k="x&#2;"/></r>', 'character reference &#2;', 2, 10],
    ['<r>\n  <a k="x & y"/></r>', 'bare "&"', 2, 11],
    ['<a><!-- x -- y --></a>', '"--" inside a comment', 1, 11],
    ['<a/>\n<?xml version="1.0"?>', 'XML declaration not at the start', 2, 1],
  ])('%j: %s (line %d, column %d)', (src, reason, line, column) => {
    const e = syntaxError(src);
    expect(e.reason).toContain(reason);
    expect([e.line, e.column]).toEqual([line, column]);
  });

  test('allowed: tab, newline, carriage return (raw and as references), characters beyond the BMP, U+FFFD', () => {
    const root = parseXml('<a b="&#9;&#10;&#13;">\t\u{1F600}\ufffd&#x1F600;&#xD;</a>');
    expect(root.attrs).toEqual([['b', '\t\n\r']]);
    expect(root.text).toBe('\t\u{1F600}\ufffd\u{1F600}\r');
  });

  test.each([
    ['a lone continuation byte', [0x80], 2, 4],
    ['an overlong encoding', [0xc0, 0xaf], 2, 4],
    ['a truncated sequence', [0xe2, 0x82], 2, 4],
    ['an encoded surrogate', [0xed, 0xa0, 0x80], 2, 4],
    ['a byte 0xff', [0xff], 2, 4],
    ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 2, 4],
  ])('bytes with %s are refused, not turned into U+FFFD', (_what, bad, line, column) => {
    const bytes = Buffer.concat([Buffer.from('<a>\n\u00e9x\u00e9'), Buffer.from(bad), Buffer.from('</a>')]);
    let err: unknown;
    try {
      parseXml(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(XmlSyntaxError);
    const e = err as XmlSyntaxError;
    expect(e.reason).toMatch(/^invalid UTF-8 \(byte 0x[0-9a-f]{2}\)$/);
    expect([e.line, e.column]).toEqual([line, column]);
  });

  test('valid UTF-8 bytes parse as their text (a byte order mark is skipped)', () => {
    const root = parseXml(Buffer.from('\ufeff<a b="\u00e9">\u{1F600} \u20ac</a>', 'utf8'));
    expect(root.attrs).toEqual([['b', '\u00e9']]);
    expect(root.text).toBe('\u{1F600} \u20ac');
  });
});

describe('the writer never writes what XML 1.0 forbids', () => {
  test.each([
    [{ name: 'feature', attrs: [['name', 'x']], text: 'a\u0002b' } as XmlNode, 'the text of <feature name="x"> holds the character U+0002'],
    [{ name: 'pool', attrs: [['dir_path', '/x\u0001']] } as XmlNode, 'attribute dir_path holds the character U+0001'],
    [{ name: 'a', text: 'x\ud800' } as XmlNode, 'holds the character U+D800'],
    [{ name: 'a', children: [{ name: 'b', text: '\uffff' }] } as XmlNode, 'the text of <b> holds the character U+FFFF'],
  ])('%j is refused: %s', (node, message) => {
    expect(() => serializeXml(node)).toThrow(XmlWriteError);
    expect(() => serializeXml(node)).toThrow(message);
  });

  test('what it writes reads back the same: tab, newline, carriage return, astral characters', () => {
    const node: XmlNode = { name: 'a', attrs: [['k', '\t\n\r<&">']], children: [{ name: 'b', text: '\t\r\n\u{1F600}&<>' }] };
    const root = parseXml(serializeXml(node));
    expect(root.attrs).toEqual([['k', '\t\n\r<&">']]);
    expect(root.children[0]?.text).toBe('\t\r\n\u{1F600}&<>');
  });
});

describe('sizes are bounded as lxml bounds them, so what is read can be written back for lxml', () => {
  const deep = (d: number) => '<a>'.repeat(d) + '</a>'.repeat(d);
  test('256 levels of nesting are read, 257 refused', () => {
    expect(() => parseXml(deep(256))).not.toThrow();
    expect(syntaxError(deep(257)).reason).toBe('elements nested deeper than 256 levels');
  });
  test('a million characters of text are read, one more refused (also when split by a comment or CDATA)', () => {
    expect(parseXml(`<a>${'x'.repeat(1_000_000)}</a>`).text).toHaveLength(1_000_000);
    expect(syntaxError(`<a>${'x'.repeat(1_000_001)}</a>`).reason).toBe('text longer than 1000000 characters');
    expect(syntaxError(`<a>${'x'.repeat(600_000)}<!-- c --><![CDATA[${'y'.repeat(400_001)}]]></a>`).reason).toBe('text longer than 1000000 characters');
  });
  test('start tags over a million characters and names over 1000 are refused', () => {
    expect(syntaxError(`<a b="${'x'.repeat(1_000_000)}"/>`).reason).toBe('start tag longer than 1000000 characters');
    expect(syntaxError(`<${'n'.repeat(1001)}/>`).reason).toBe('name longer than 1000 characters');
    expect(syntaxError(`<a ${'n'.repeat(1001)}="1"/>`).reason).toBe('name longer than 1000 characters');
    expect(parseXml(`<a b="${'n'.repeat(5000)}"/>`).attrs[0]?.[1]).toHaveLength(5000);
  });
});
