import { makeRule, parseDstHost, type RuleFields } from '../../lib/firewall/rule.js';
import { apiForm, clientForm, parseRuleText, qubesDbForm } from '../../lib/firewall/rule-text.js';
import { ruleFromWords } from '../../lib/firewall/rule-words.js';
import { SHAPES } from './shapes.js';

describe('parseDstHost', () => {
  test.each([
    ['192.168.0.1', '192.168.0.1/32', 'dst4', 32],
    ['192.168.0.0/24', '192.168.0.0/24', 'dst4', 24],
    ['127.0.0.1/08', '127.0.0.1/08', 'dst4', 8], // kept verbatim, host bits not masked
    ['10.1.2.3/0', '10.1.2.3/0', 'dst4', 0],
    ['::1', '::1/128', 'dst6', 128],
    ['fd00::/8', 'fd00::/8', 'dst6', 8],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4/128', 'dst6', 128],
    ['qubes-os.org', 'qubes-os.org', 'dsthost', 0],
    ['1.2.3', '1.2.3', 'dsthost', 0], // no structural check: a host name
    ['a_b.c', 'a_b.c', 'dsthost', 0],
    ['01.2.3.4', '01.2.3.4', 'dsthost', 0], // inet_pton refuses leading zeros
  ])('%s', (input, text, type, prefixlen) => {
    expect(parseDstHost(input)).toEqual({ text, type, prefixlen });
  });

  test.each([
    ['1.2.3.4/33', 'netmask for IPv4 must be <= 32'],
    ['::1/129', 'netmask for IPv6 must be <= 128'],
    ['1.2.3.4/x', 'bad prefix length'],
    ['1.2.3.4/', 'bad prefix length'],
    ['1.2.3.4/-1', 'bad prefix length'],
    ['example.com/24', 'Invalid IP address: example.com'],
    ['1.2.3/24', 'Invalid IP address: 1.2.3'],
    ['1.2.3.4/24/1', 'Too many /: 1.2.3.4/24/1'],
    ['Example.com', 'Invalid hostname'],
    ['exa mple', 'Invalid hostname'],
    ['', 'Invalid hostname'],
    ['fe80::1%eth0', 'Invalid hostname'],
  ])('%s is refused: %s', (input, reason) => {
    expect(() => parseDstHost(input)).toThrow(reason);
  });

  test('a separate prefix length applies to a bare address only', () => {
    expect(parseDstHost('10.0.0.0', 8).text).toBe('10.0.0.0/8');
    expect(parseDstHost('fd00::', 0).text).toBe('fd00::/0');
    expect(() => parseDstHost('10.0.0.0', 33)).toThrow('netmask for IPv4 must be between 0 and 32');
    expect(() => parseDstHost('::', 129)).toThrow('netmask for IPv6 must be between 0 and 128');
  });
});

describe('makeRule refuses every invalid field with the reference reason', () => {
  test.each<[RuleFields, string]>([
    [{}, 'missing action='],
    [{ action: 'allow' }, "invalid action: 'allow' (allowed: accept, drop)"],
    [{ action: 'acc ept' }, 'strange characters in rule'],
    [{ action: 'accept', proto: 'sctp' }, "invalid proto: 'sctp'"],
    [{ action: 'accept', specialtarget: 'ntp' }, "invalid specialtarget: 'ntp'"],
    [{ action: 'accept', proto: 'tcp', dstports: '65536' }, 'Ports out of range'],
    [{ action: 'accept', proto: 'tcp', dstports: '90-80' }, 'Invalid port range'],
    [{ action: 'accept', proto: 'tcp', dstports: '1-2-3' }, "invalid dstports: '1-2-3'"],
    [{ action: 'accept', proto: 'tcp', dstports: 'http' }, "invalid dstports: 'http'"],
    [{ action: 'accept', dstports: '80' }, "dstports valid only for 'tcp' and 'udp' protocols"],
    [{ action: 'accept', proto: 'icmp', dstports: '80' }, "dstports valid only for 'tcp' and 'udp' protocols"],
    [{ action: 'accept', proto: 'tcp', icmptype: '8' }, "icmptype valid only for 'icmp' protocol"],
    [{ action: 'accept', icmptype: '8' }, "icmptype valid only for 'icmp' protocol"],
    [{ action: 'accept', proto: 'icmp', icmptype: '256' }, 'ICMP type out of range'],
    [{ action: 'accept', proto: 'icmp', icmptype: '1000' }, 'bad ICMP type'],
    [{ action: 'accept', proto: 'icmp', icmptype: 'echo' }, 'bad ICMP type'],
    [{ action: 'accept', expire: 'tomorrow' }, 'bad expiration time'],
    [{ action: 'accept', expire: '-5' }, 'bad expiration time'],
    [{ action: 'accept', expire: '+5' }, 'strange characters in rule'],
    [{ action: 'accept', comment: '50%' }, 'strange characters comment'],
    [{ action: 'accept', comment: 'a=b' }, 'strange characters comment'],
    [{ action: 'accept', comment: 'naïve' }, 'strange characters comment'],
    [{ action: 'accept', dsthost: '1.2.3.4/33' }, 'netmask for IPv4 must be <= 32'],
  ])('%j', (fields, reason) => {
    expect(() => makeRule(fields)).toThrow(reason);
  });

  test('field order does not matter; port bounds', () => {
    expect(makeRule({ dstports: '80', proto: 'tcp', action: 'drop' })).toEqual({ action: 'drop', proto: 'tcp', dstports: { first: 80, last: 80 } });
    expect(makeRule({ action: 'accept', proto: 'udp', dstports: '0-65535' }).dstports).toEqual({ first: 0, last: 65535 });
    expect(makeRule({ action: 'accept', comment: '' })).toEqual({ action: 'accept' });
  });
});

describe('text forms', () => {
  const r = makeRule({ action: 'accept', dsthost: '192.168.0.0/24', proto: 'tcp', dstports: '80-90', expire: '1795324539', comment: 'LAN web' });
  test('QubesDB form: no expire or comment, host key by type, ports as a range', () => {
    expect(qubesDbForm(r)).toBe('action=accept dst4=192.168.0.0/24 proto=tcp dstports=80-90');
    expect(qubesDbForm(makeRule({ action: 'drop', proto: 'tcp', dstports: '443' }))).toBe('action=drop proto=tcp dstports=443-443');
    expect(qubesDbForm(makeRule({ action: 'accept', specialtarget: 'dns', proto: 'udp' }))).toBe('action=accept proto=udp specialtarget=dns');
    expect(qubesDbForm(makeRule({ action: 'drop', proto: 'icmp', icmptype: '8', dsthost: 'fd00::/8' }))).toBe(
      'action=drop dst6=fd00::/8 proto=icmp icmptype=8',
    );
  });
  test('API form: expire second, comment last', () => {
    expect(apiForm(r)).toBe('action=accept expire=1795324539 dst4=192.168.0.0/24 proto=tcp dstports=80-90 comment=LAN web');
    expect(apiForm(makeRule({ action: 'accept', expire: '2063292452', proto: 'tcp', comment: 'Some comment, with spaces' }))).toBe(
      'action=accept expire=2063292452 proto=tcp comment=Some comment, with spaces',
    );
  });
  test('client form: its own order; prefix-0 hosts kept with their family (the reference client drops them)', () => {
    expect(clientForm(r)).toBe('action=accept proto=tcp dst4=192.168.0.0/24 dstports=80-90 expire=1795324539 comment=LAN web');
    expect(clientForm(makeRule({ action: 'accept', dsthost: 'qubes-os.org' }))).toBe('action=accept dsthost=qubes-os.org');
    expect(clientForm(makeRule({ action: 'accept', dsthost: '0.0.0.0/0', proto: 'tcp', dstports: '22' }))).toBe(
      'action=accept proto=tcp dst4=0.0.0.0/0 dstports=22-22',
    );
    expect(clientForm(makeRule({ action: 'accept', dsthost: '::/0' }))).toBe('action=accept dst6=::/0');
    expect(clientForm(makeRule({ action: 'drop', proto: 'icmp', icmptype: '8', specialtarget: 'dns' }))).toBe(
      'action=drop proto=icmp icmptype=8 specialtarget=dns',
    );
  });
  test.each(SHAPES)('every form parses back to the same rule: %j', (fields) => {
    const rule = makeRule(fields);
    expect(parseRuleText(apiForm(rule))).toEqual(rule);
    expect(parseRuleText(clientForm(rule))).toEqual(rule);
    const { expire: _e, comment: _c, ...rest } = rule;
    expect(parseRuleText(qubesDbForm(rule))).toEqual(rest);
  });
  test('prefix-0 destinations parse back from every form with their family', () => {
    for (const dsthost of ['0.0.0.0/0', '::/0', '10.1.2.3/0']) {
      const rule = makeRule({ action: 'accept', dsthost, proto: 'tcp', dstports: '22' });
      for (const form of [apiForm, clientForm, qubesDbForm]) expect(parseRuleText(form(rule))).toEqual(rule);
    }
  });
});

describe('parseRuleText (core from_api_string)', () => {
  test.each([
    ['action=accept  proto=tcp', "invalid rule element: ''"],
    ['action=accept proto', "invalid rule element: 'proto'"],
    ['action=accept action=drop', "Option 'action' already set"],
    ['action=accept dst4=1.2.3.4 dsthost=a.b', "Option 'dsthost' already set"],
    ['action=accept dsthost=a.b dst6=::1', "Option 'dsthost' already set"],
    ['action=accept port=80', 'Unknown firewall option'],
    ['comment=x', "invalid rule element: ''"],
  ])('%s is refused: %s', (text, reason) => {
    expect(() => parseRuleText(text)).toThrow(reason);
  });
  test('aliases are not checked against the value; the comment keeps spaces; an empty comment is none', () => {
    expect(parseRuleText('action=accept dst4=example.com').dsthost).toEqual({ text: 'example.com', type: 'dsthost', prefixlen: 0 });
    expect(parseRuleText('action=accept dstname=10.0.0.1').dsthost?.type).toBe('dst4');
    expect(parseRuleText('action=drop comment=a  b ').comment).toBe('a  b ');
    expect(parseRuleText('action=drop comment=')).toEqual({ action: 'drop' });
  });
});

describe('ruleFromWords (qvm-firewall RULE arguments)', () => {
  const NOW = 1_700_000_000_500;
  const form = (words: string[]) => clientForm(ruleFromWords(words, NOW));
  test.each([
    [['accept', 'qubes-os.org', 'tcp', '443'], 'action=accept proto=tcp dsthost=qubes-os.org dstports=443-443'],
    [['accept', 'tcp'], 'action=accept dsthost=tcp'],
    [['accept', 'proto=icmp', '8'], 'action=accept proto=icmp dsthost=8'],
    [['drop', 'proto=icmp', '1.2.3.4', '8'], 'action=drop proto=icmp dst4=1.2.3.4/32 icmptype=8'],
    [['accept', 'a.b', 'icmp', '80'], 'action=accept proto=icmp dsthost=a.b icmptype=80'],
    [['proto=udp', 'accept', '10.0.0.0/8', '53'], 'action=accept proto=udp dst4=10.0.0.0/8 dstports=53-53'],
    [['action=accept', 'specialtarget=dns'], 'action=accept specialtarget=dns'],
    [['accept', 'dst6=fd00::/8'], 'action=accept dst6=fd00::/8'],
    [['accept', 'dst6=::/0'], 'action=accept dst6=::/0'],
    [['accept', 'dst4=0.0.0.0/0', 'tcp'], 'action=accept proto=tcp dst4=0.0.0.0/0'],
    [['accept', 'dsthost=::/0'], 'action=accept dst6=::/0'],
    [['accept', 'dst4=example.com', 'dsthost=example.com'], 'action=accept dsthost=example.com'],
    [['accept', 'comment=Allow LAN', 'dst4=192.168.0.0/24'], 'action=accept dst4=192.168.0.0/24 comment=Allow LAN'],
    [['accept', 'expire=+300'], 'action=accept expire=1700000300'],
    [['accept', 'expire=1800000000'], 'action=accept expire=1800000000'],
  ])('%j', (words, text) => {
    expect(form(words)).toBe(text);
  });
  test.each([
    [['accept', 'action='], 'invalid rule description: action='],
    [['accept', 'comment=a=b'], 'invalid rule description: comment=a=b'],
    [['accept', 'port=80'], 'Invalid rule element: port=80'],
    [['accept', 'a.b', 'tcp', '80', 'extra'], 'too many rule elements without a key: extra'],
  ])('syntax error %j', (words, reason) => {
    expect(() => ruleFromWords(words, NOW)).toThrow(expect.objectContaining({ name: 'FirewallRuleSyntaxError', message: reason }));
  });
  test.each([
    [['allow'], "invalid action: 'allow'"],
    [['accept', 'a.b', 'icmp', 'dstports=80'], "dstports valid only for 'tcp' and 'udp' protocols"],
    [['accept', 'expire=+soon'], 'bad expiration time'],
    [['accept', 'comment=50%'], 'strange characters comment'],
    [['accept', 'proto=tcp', 'dstports=70000'], 'Ports out of range'],
    [['accept', 'dst4=example.com'], "dst4 needs an IPv4 address or network: 'example.com'"],
    [['accept', 'dst6=0.0.0.0/0'], "dst6 needs an IPv6 address or network: '0.0.0.0/0'"],
    [['accept', 'dsthost=::/0', 'dst4=::/0'], "dst4 needs an IPv4 address or network: '::/0'"],
  ])('value error %j', (words, reason) => {
    expect(() => ruleFromWords(words, NOW)).toThrow(expect.objectContaining({ name: 'QubesValueError' }));
    expect(() => ruleFromWords(words, NOW)).toThrow(reason);
  });
});
