import { parseXml, scanXml, XmlSyntaxError } from '../../lib/util/xml-reader.js';

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
    const root = parseXml(
      '\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE qubes>\n<!-- c -->\n<qubes>\n  <a b="1" c=\'x &amp; &lt;y&gt; &#65;&#x42;\'>t &quot;q&quot; <![CDATA[<raw>&]]></a>\n  <?pi x?>\n  <e/>\n  <f></f>\n</qubes>\n',
    );
    expect(root.name).toBe('qubes');
    const [a, e, f] = root.children;
    expect(a?.attrs).toEqual([
      ['b', '1'],
      ['c', 'x & <y> AB'],
    ]);
    expect(a?.text).toBe('t "q" <raw>&');
    expect(a?.line).toBe(5);
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
