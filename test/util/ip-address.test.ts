// The one address parser of the firewall and the ip/ip6 properties, against
// what glibc's inet_pton and Python's ipaddress (the reference's two
// readers) say about the same texts.
import { canonicalIPv6, isIPv4, isIPv6, parseIPv4, parseIPv6 } from '../../lib/util/ip-address.js';

describe('IPv4', () => {
  test.each(['1.2.3.4', '0.0.0.0', '255.255.255.255', '10.137.0.5'])('%s is an address', (s) => {
    expect(isIPv4(s)).toBe(true);
    expect(isIPv6(s)).toBe(false);
  });
  test.each(['256.0.0.1', '999.999.999.999', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.', ' 1.2.3.4', '1.2.3.4 ', '0x1.2.3.4', '1..3.4', '', '+1.2.3.4', '١.2.3.4'])(
    '%j is not',
    (s) => {
      expect(isIPv4(s)).toBe(false);
    },
  );
  test('bytes', () => {
    expect(parseIPv4('192.168.0.255')).toEqual([192, 168, 0, 255]);
  });
});

describe('IPv6', () => {
  test.each([
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['FD00:0:0::1', 'fd00::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:0:0:1:0:0:1', '1::1:0:0:1'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['0:0:1:0:0:1:0:0', '::1:0:0:1:0:0'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5::1.2.3.4', '1:2:3:4:5:0:102:304'],
  ])('%s is an address, canonically %s', (s, canonical) => {
    expect(isIPv6(s)).toBe(true);
    expect(isIPv4(s)).toBe(false);
    expect(canonicalIPv6(s)).toBe(canonical);
  });
  test.each([
    'zzzz',
    ':::',
    ':1',
    '1:',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:1.2.3.4',
    '1:2:3:4:5:6::1.2.3.4',
    '1.2.3.4::',
    '::01.2.3.4',
    '::1.2.3',
    '12345::',
    'fe80::1%eth0',
    '',
  ])('%j is not', (s) => {
    expect(isIPv6(s)).toBe(false);
    expect(canonicalIPv6(s)).toBeUndefined();
  });
  test('groups', () => {
    expect(parseIPv6('fd09:24ef:4179::a89:5')).toEqual([0xfd09, 0x24ef, 0x4179, 0, 0, 0, 0xa89, 5]);
  });
});
