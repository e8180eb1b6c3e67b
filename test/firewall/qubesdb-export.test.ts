import { makeRule } from '../../lib/firewall/rule.js';
import { applyQdbOps, firewallQdbOps, qdbEntries, type QubesDbWriter } from '../../lib/firewall/qubesdb-export.js';

const NOW = 2_000_000_000_000;

/** The spec's example: [dst4, icmp, dns, dst6, hostname, expired, drop]. */
const RULES = [
  makeRule({ action: 'accept', dsthost: '192.168.0.0/24', proto: 'tcp', dstports: '80-90', comment: 'LAN' }),
  makeRule({ action: 'drop', proto: 'icmp', icmptype: '8' }),
  makeRule({ action: 'accept', specialtarget: 'dns' }),
  makeRule({ action: 'accept', dsthost: 'fd00::/8', proto: 'udp' }),
  makeRule({ action: 'accept', dsthost: 'qubes-os.org', proto: 'tcp', dstports: '443' }),
  makeRule({ action: 'accept', expire: '1500000000', proto: 'tcp', dstports: '22' }),
  makeRule({ action: 'drop', expire: '2100000000' }),
];

describe('qdbEntries', () => {
  test('IPv4: dst6 and expired rules skipped, numbers keep counting', () => {
    expect(Object.fromEntries(qdbEntries(RULES, 4, NOW))).toEqual({
      policy: 'drop',
      '0000': 'action=accept dst4=192.168.0.0/24 proto=tcp dstports=80-90',
      '0001': 'action=drop proto=icmp icmptype=8',
      '0002': 'action=accept specialtarget=dns',
      '0004': 'action=accept dsthost=qubes-os.org proto=tcp dstports=443-443',
      '0006': 'action=drop',
    });
    expect(qdbEntries(RULES, 4, NOW)[0]).toEqual(['policy', 'drop']);
  });
  test('IPv6: dst4 skipped instead', () => {
    expect(qdbEntries(RULES, 6, NOW).map(([k]) => k)).toEqual(['policy', '0001', '0002', '0003', '0004', '0006']);
  });
  test('no family: both; once the last rule expires it goes too', () => {
    expect(qdbEntries(RULES, undefined, NOW).map(([k]) => k)).toEqual(['policy', '0000', '0001', '0002', '0003', '0004', '0006']);
    expect(qdbEntries(RULES, undefined, 2_100_000_001_000).map(([k]) => k)).toEqual(['policy', '0000', '0001', '0002', '0003', '0004']);
  });
  test('core test_005, contiguous', () => {
    const rules = [
      makeRule({ action: 'drop', proto: 'icmp' }),
      makeRule({ action: 'drop', proto: 'tcp', dstports: '80' }),
      makeRule({ action: 'accept', proto: 'udp' }),
      makeRule({ action: 'accept', specialtarget: 'dns' }),
    ];
    expect(Object.fromEntries(qdbEntries(rules, undefined, NOW))).toEqual({
      policy: 'drop',
      '0000': 'action=drop proto=icmp',
      '0001': 'action=drop proto=tcp dstports=80-80',
      '0002': 'action=accept proto=udp',
      '0003': 'action=accept specialtarget=dns',
    });
  });
});

describe('firewallQdbOps and applyQdbOps', () => {
  /** An in-memory QubesDB that records the order of calls. */
  class FakeQdb implements QubesDbWriter {
    readonly db = new Map<string, string>();
    readonly log: string[] = [];
    rm(p: string): void {
      this.log.push(`rm ${p}`);
      for (const k of [...this.db.keys()]) if (p.endsWith('/') ? k.startsWith(p) : k === p) this.db.delete(k);
    }
    write(p: string, v: string): void {
      this.log.push(`write ${p}`);
      this.db.set(p, v);
    }
  }

  test('per family: remove the children, write the entries, then the empty trigger', async () => {
    const qdb = new FakeQdb();
    qdb.write('/qubes-firewall/10.137.0.9/0007', 'stale');
    qdb.write('/qubes-firewall/10.137.0.10/0000', 'other qube');
    qdb.log.length = 0;
    const ops = firewallQdbOps({ ip: '10.137.0.9', ip6: 'fd09:24ef:4179::a89:9' }, RULES.slice(2, 5), NOW);
    await applyQdbOps(qdb, ops);
    expect(qdb.log).toEqual([
      'rm /qubes-firewall/10.137.0.9/',
      'write /qubes-firewall/10.137.0.9/policy',
      'write /qubes-firewall/10.137.0.9/0000',
      'write /qubes-firewall/10.137.0.9/0002',
      'write /qubes-firewall/10.137.0.9',
      'rm /qubes-firewall/fd09:24ef:4179::a89:9/',
      'write /qubes-firewall/fd09:24ef:4179::a89:9/policy',
      'write /qubes-firewall/fd09:24ef:4179::a89:9/0000',
      'write /qubes-firewall/fd09:24ef:4179::a89:9/0001',
      'write /qubes-firewall/fd09:24ef:4179::a89:9/0002',
      'write /qubes-firewall/fd09:24ef:4179::a89:9',
    ]);
    expect(qdb.db.get('/qubes-firewall/10.137.0.9/0007')).toBeUndefined();
    expect(qdb.db.get('/qubes-firewall/10.137.0.10/0000')).toBe('other qube');
    expect(qdb.db.get('/qubes-firewall/10.137.0.9')).toBe('');
    expect(qdb.db.get('/qubes-firewall/fd09:24ef:4179::a89:9/0001')).toBe('action=accept dst6=fd00::/8 proto=udp');
  });

  test('a family without an address is skipped', () => {
    expect(firewallQdbOps({ ip: null, ip6: null }, RULES, NOW)).toEqual([]);
    expect(firewallQdbOps({ ip: '10.137.0.9', ip6: null }, [makeRule({ action: 'accept' })], NOW)).toEqual([
      { op: 'rm', path: '/qubes-firewall/10.137.0.9/' },
      { op: 'write', path: '/qubes-firewall/10.137.0.9/policy', value: 'drop' },
      { op: 'write', path: '/qubes-firewall/10.137.0.9/0000', value: 'action=accept' },
      { op: 'write', path: '/qubes-firewall/10.137.0.9', value: '' },
    ]);
  });
});
