import fs from 'node:fs';
import path from 'node:path';
import { activeRules, isExpired, nextExpiry } from '../../lib/firewall/expiry.js';
import { loadRules, saveRules } from '../../lib/firewall/firewall-file.js';
import { parseFirewallXml, serializeFirewallXml } from '../../lib/firewall/firewall-xml.js';
import { makeRule } from '../../lib/firewall/rule.js';
import { apiForm } from '../../lib/firewall/rule-text.js';
import { tmpDir, vector } from '../helpers.js';
import { lackingRoot, testLacking } from '../needs.js';
import { SHAPES } from './shapes.js';

const V4 = fs.readFileSync(vector('reference-samples/v4-firewall.xml'), 'utf8');
const V3 = fs.readFileSync(vector('reference-samples/v3-firewall.xml'), 'utf8');

describe('firewall.xml version 2', () => {
  test('the reference sample loads and saves back byte for byte', () => {
    const rules = parseFirewallXml(V4);
    expect(rules.map(apiForm)).toEqual([
      'action=accept specialtarget=dns',
      'action=accept proto=icmp',
      'action=accept proto=tcp dstports=22-22',
      'action=accept dsthost=www.qubes-os.org proto=tcp dstports=443-443',
      'action=accept dst4=192.168.0.0/24 proto=tcp',
      'action=drop',
    ]);
    expect(serializeFirewallXml(rules)).toBe(V4);
  });

  test('the writer: reference property order, short ports, prefixes on addresses, no declaration', () => {
    const xml = serializeFirewallXml([
      makeRule({ dstports: '80-90', proto: 'tcp', dsthost: '192.168.0.0/24', expire: '1795324539', comment: 'LAN web', action: 'accept' }),
      makeRule({ action: 'drop', proto: 'icmp', icmptype: '8', dsthost: '::1' }),
      makeRule({ action: 'accept', specialtarget: 'dns', proto: 'udp', dstports: '53' }),
    ]);
    expect(xml).toBe(`<firewall version="2">
  <rules>
    <rule>
      <properties>
        <property name="action">accept</property>
        <property name="comment">LAN web</property>
        <property name="expire">1795324539</property>
        <property name="dsthost">192.168.0.0/24</property>
        <property name="proto">tcp</property>
        <property name="dstports">80-90</property>
      </properties>
    </rule>
    <rule>
      <properties>
        <property name="action">drop</property>
        <property name="dsthost">::1/128</property>
        <property name="proto">icmp</property>
        <property name="icmptype">8</property>
      </properties>
    </rule>
    <rule>
      <properties>
        <property name="action">accept</property>
        <property name="proto">udp</property>
        <property name="specialtarget">dns</property>
        <property name="dstports">53</property>
      </properties>
    </rule>
  </rules>
</firewall>
`);
    expect(serializeFirewallXml([])).toBe('<firewall version="2">\n  <rules/>\n</firewall>\n');
  });

  test('every rule shape survives write and read', () => {
    const rules = SHAPES.map(makeRule);
    expect(parseFirewallXml(serializeFirewallXml(rules))).toEqual(rules);
  });

  test('unknown properties are ignored; a declaration is accepted', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<firewall version="2"><rules><rule><properties>
      <property name="action">drop</property><property name="dpi">yes</property></properties></rule></rules></firewall>`;
    expect(parseFirewallXml(xml)).toEqual([{ action: 'drop' }]);
  });

  test.each([
    ['<firewall version="3"><rules/></firewall>', 'Unsupported firewall.xml version: 3'],
    ['<firewall version="2"></firewall>', 'no <rules> element'],
    ['<firewall version="2"><rules><rule><properties/></rule></rules></firewall>', 'rule at line 1: missing action='],
    [
      '<firewall version="2">\n<rules>\n<rule><properties><property name="action">accept</property><property name="dstports">80</property></properties></rule></rules></firewall>',
      "rule at line 3: dstports valid only for 'tcp' and 'udp' protocols",
    ],
    ['<firewall version="2"><rules>', 'is not closed'],
  ])('%s is refused', (xml, reason) => {
    expect(() => parseFirewallXml(xml)).toThrow(reason);
  });
});

describe('firewall.xml version 1 (R3.2) import', () => {
  test('the reference sample: DNS, ICMP, the exceptions with the policy reversed; netmask 0 means every IPv4 host', () => {
    expect(parseFirewallXml(V3).map(apiForm)).toEqual([
      'action=accept specialtarget=dns',
      'action=accept proto=icmp',
      'action=accept dst4=0.0.0.0/0 proto=tcp dstports=22-22',
      'action=accept dst4=0.0.0.0/0 proto=tcp dstports=9418-9418',
      'action=accept dst4=192.168.0.1/32 proto=tcp dstports=1234-1234',
      'action=accept dsthost=fedorahosted.org proto=tcp dstports=443-443',
      'action=accept dsthost=xenbits.xen.org proto=tcp dstports=80-80',
    ]);
  });

  test('policy allow: rules drop, a final accept; dns/icmp fall back to the policy; proto any; toport; expire', () => {
    const xml = `<QubesFirewallRules policy="allow" icmp="deny" yumProxy="allow">
  <rule address="10.0.0.0" netmask="8" proto="any"/>
  <rule address="example.com" port="1000" toport="2000" expire="1463292452"/>
  <rule address="192.168.1.1" proto="udp" port="53"/>
</QubesFirewallRules>`;
    expect(parseFirewallXml(xml).map(apiForm)).toEqual([
      'action=accept specialtarget=dns',
      'action=drop proto=icmp',
      'action=drop dst4=10.0.0.0/8',
      'action=drop expire=1463292452 dsthost=example.com proto=tcp dstports=1000-2000',
      'action=drop dst4=192.168.1.1/32 proto=udp dstports=53-53',
      'action=accept',
    ]);
  });

  test.each([
    ['<QubesFirewallRules policy="maybe"/>', "invalid policy in version 1 firewall.xml: 'maybe'"],
    ['<QubesFirewallRules/>', 'invalid policy'],
    ['<QubesFirewallRules policy="deny"><rule address="1.2.3.4" netmask="33"/></QubesFirewallRules>', 'netmask for IPv4 must be between 0 and 32'],
    ['<QubesFirewallRules policy="deny"><rule address="1.2.3.4" proto="any" port="80"/></QubesFirewallRules>', 'dstports valid only'],
  ])('%s is refused', (xml, reason) => {
    expect(() => parseFirewallXml(xml)).toThrow(reason);
  });
});

describe('firewall.xml on disk', () => {
  const dir = () => tmpDir('qubes-fw-');

  test('no file: the single accept rule', () => {
    expect(loadRules(path.join(dir(), 'appvms', 'x', 'firewall.xml'))).toEqual([{ action: 'accept' }]);
  });

  test('save creates the directory, writes mode 0664 atomically, drops expired rules', () => {
    const file = path.join(dir(), 'appvms', 'work', 'firewall.xml');
    const rules = [makeRule({ action: 'accept', expire: '1000' }), makeRule({ action: 'accept', expire: '3000' }), makeRule({ action: 'drop' })];
    const kept = saveRules(file, rules, 2000 * 1000);
    expect(kept).toEqual([rules[1], rules[2]]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o664);
    expect(loadRules(file)).toEqual(kept);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['firewall.xml']);
  });

  // Root writes into read-only directories; test/firewall/qvm-firewall.test.ts fills a tmpfs instead.
  testLacking({ machine: lackingRoot().length ? [] : ['a user other than root'] }, 'a failed save leaves the old file and no temporary file', () => {
    const d = path.join(dir(), 'appvms', 'ro');
    const file = path.join(d, 'firewall.xml');
    saveRules(file, [makeRule({ action: 'drop' })], 0);
    fs.chmodSync(d, 0o555);
    try {
      expect(() => saveRules(file, [makeRule({ action: 'accept' })], 0)).toThrow(/^firewall save error: .*permission denied$/);
      expect(loadRules(file)).toEqual([{ action: 'drop' }]);
      expect(fs.readdirSync(d)).toEqual(['firewall.xml']);
    } finally {
      fs.chmodSync(d, 0o755);
    }
  });

  test('an invalid file is reported with its path', () => {
    const file = path.join(dir(), 'firewall.xml');
    fs.writeFileSync(file, '<firewall version="9"><rules/></firewall>');
    expect(() => loadRules(file)).toThrow(`${file}: Unsupported firewall.xml version: 9`);
  });
});

describe('expiry', () => {
  const r = makeRule({ action: 'accept', expire: '1000' });
  test('expired strictly after the second', () => {
    expect(isExpired(r, 999_000)).toBe(false);
    expect(isExpired(r, 1_000_000)).toBe(false);
    expect(isExpired(r, 1_000_001)).toBe(true);
    expect(isExpired(makeRule({ action: 'accept' }), 1e15)).toBe(false);
  });
  test('active rules and the next expiry', () => {
    const rules = [r, makeRule({ action: 'drop', expire: '5000' }), makeRule({ action: 'drop', expire: '3000' }), makeRule({ action: 'drop' })];
    expect(activeRules(rules, 2_000_000)).toEqual(rules.slice(1));
    expect(nextExpiry(rules, 2_000_000)).toBe(3000);
    expect(nextExpiry(rules, 6_000_000)).toBeUndefined();
  });
});
