// qvm-firewall and qubes-firewall-expire through the built executables, on
// copies of the q10 vector store, with firewall.xml files on disk.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseFirewallXml, serializeFirewallXml } from '../../lib/firewall/firewall-xml.js';
import { makeRule, type RuleFields } from '../../lib/firewall/rule.js';
import { clientForm } from '../../lib/firewall/rule-text.js';
import { ROOT, run, runAsync, tmpDir, tmpStore, tmpStoreLocalPools, vector, type TmpStore } from '../helpers.js';
import { available, lackingRoot, testLacking, testWithout } from '../needs.js';
import { REF_PYTHON, referenceCoreMissing } from '../reference-core.js';
import { SHAPES } from './shapes.js';

const T0 = 1_800_000_000;

let s: TmpStore;
beforeEach(() => {
  s = tmpStore('qubes-xml/q10.xml');
});
afterEach(() => {
  fs.rmSync(s.dir, { recursive: true, force: true });
});

const fwFile = (vm: string, dir = 'appvms') => path.join(s.dir, dir, vm, 'firewall.xml');
const fw = (args: string[], now = T0) => run('qvm-firewall', args, { ...s.env, QUBES_TEST_NOW: String(now) });
const raw = (vm: string, now = T0) => fw(['--raw', vm], now).stdout;
const stored = (vm: string) => parseFirewallXml(fs.readFileSync(fwFile(vm), 'utf8'));
const ok = (args: string[], now = T0) => {
  const r = fw(args, now);
  expect({ args, ...r }).toMatchObject({ code: 0, stderr: '' });
  return r.stdout;
};

/** KEY=VALUE words of a rule shape. */
const keyWords = (f: RuleFields) => Object.entries(f).map(([k, v]) => `${k}=${v}`);

/** The reference core's QubesDB entries per address family for DIR/firewall.xml. */
function referenceEntries(dir: string): unknown {
  const script = [
    'import json, sys, qubes.firewall',
    'class VM:',
    '    firewall_conf = "firewall.xml"',
    '    dir_path = sys.argv[1]',
    '    def fire_event(self, *a, **k): pass',
    'fw = qubes.firewall.Firewall(VM(), load=True)',
    'print(json.dumps({str(f): fw.qdb_entries(f) for f in (4, 6)}))',
  ].join('\n');
  return JSON.parse(execFileSync(REF_PYTHON, ['-c', script, dir], { encoding: 'utf8' }));
}

describe('qvm-firewall list', () => {
  test('a qube without firewall.xml has the single accept rule; listing creates nothing', () => {
    expect(ok(['vm0001'])).toBe(
      'NO  ACTION  HOST  PROTOCOL  PORT(S)  SPECIAL TARGET  ICMP TYPE  EXPIRE  COMMENT\n0   accept  -     -         -        -               -          -       -\n',
    );
    expect(ok(['vm0001', 'list', '--raw'])).toBe('action=accept\n');
    expect(fs.existsSync(path.join(s.dir, 'appvms'))).toBe(false);
  });

  test('the reference table (qubesadmin test_001), verbatim', () => {
    ok(['vm0001', 'add', 'accept', 'qubes-os.org', 'tcp', '443']);
    ok(['vm0001', 'add', 'drop', 'proto=icmp', 'icmptype=8']);
    ok(['vm0001', 'add', 'accept', 'specialtarget=dns', 'comment=Allow DNS']);
    ok(['vm0001', 'del', '--rule-no', '0']);
    expect(ok(['vm0001', 'list'])).toBe(
      [
        'NO  ACTION  HOST          PROTOCOL  PORT(S)  SPECIAL TARGET  ICMP TYPE  EXPIRE  COMMENT',
        '0   accept  qubes-os.org  tcp       443      -               -          -       -',
        '1   drop    -             icmp      -        -               8          -       -',
        '2   accept  -             -         -        dns             -          -       Allow DNS',
        '',
      ].join('\n'),
    );
    expect(raw('vm0001')).toBe('action=accept proto=tcp dsthost=qubes-os.org dstports=443-443\naction=drop proto=icmp icmptype=8\naction=accept specialtarget=dns comment=Allow DNS\n');
  });

  test('the R4 and R3.2 reference samples load', () => {
    fs.mkdirSync(path.dirname(fwFile('vm0001')), { recursive: true });
    fs.mkdirSync(path.dirname(fwFile('fedora-41', 'vm-templates')), { recursive: true });
    fs.copyFileSync(vector('reference-samples/v4-firewall.xml'), fwFile('vm0001'));
    fs.copyFileSync(vector('reference-samples/v3-firewall.xml'), fwFile('fedora-41', 'vm-templates'));
    expect(raw('vm0001')).toBe(
      [
        'action=accept specialtarget=dns',
        'action=accept proto=icmp',
        'action=accept proto=tcp dstports=22-22',
        'action=accept proto=tcp dsthost=www.qubes-os.org dstports=443-443',
        'action=accept proto=tcp dst4=192.168.0.0/24',
        'action=drop',
        '',
      ].join('\n'),
    );
    expect(raw('fedora-41')).toBe(
      [
        'action=accept specialtarget=dns',
        'action=accept proto=icmp',
        'action=accept proto=tcp dst4=0.0.0.0/0 dstports=22-22',
        'action=accept proto=tcp dst4=0.0.0.0/0 dstports=9418-9418',
        'action=accept proto=tcp dst4=192.168.0.1/32 dstports=1234-1234',
        'action=accept proto=tcp dsthost=fedorahosted.org dstports=443-443',
        'action=accept proto=tcp dsthost=xenbits.xen.org dstports=80-80',
        '',
      ].join('\n'),
    );
    // A change writes the converted rules in version 2.
    ok(['fedora-41', 'add', 'drop']);
    expect(fs.readFileSync(fwFile('fedora-41', 'vm-templates'), 'utf8')).toMatch(/^<firewall version="2">\n {2}<rules>\n/);
    expect(raw('fedora-41').split('\n')).toHaveLength(9);
  });
});

describe('round trip of every rule shape', () => {
  test('add with KEY=VALUE words, file, --raw, and back through add into another qube', () => {
    ok(['vm0001', 'reset']);
    for (const f of SHAPES) ok(['vm0001', 'add', ...keyWords(f)]);
    const expected = [{ action: 'accept' }, ...SHAPES].map((f) => makeRule(f));
    expect(stored('vm0001')).toEqual(expected);
    const lines = raw('vm0001').trimEnd().split('\n');
    expect(lines).toEqual(expected.map(clientForm));

    // --raw lines are valid RULE words again (a comment must stay one word).
    ok(['vm0002', 'reset']);
    for (const line of lines.slice(1)) {
      const at = line.indexOf(' comment=');
      const words = at === -1 ? line.split(' ') : [...line.slice(0, at).split(' '), line.slice(at + 1)];
      ok(['vm0002', 'add', ...words]);
    }
    expect(fs.readFileSync(fwFile('vm0002'), 'utf8')).toBe(fs.readFileSync(fwFile('vm0001'), 'utf8'));
  });

  test('bare words fill action, host, proto, ports or ICMP type', () => {
    ok(['vm0001', 'add', 'accept', '192.168.0.0/24', 'tcp', '80-90']);
    ok(['vm0001', 'add', 'drop', 'fd00::1', 'icmp', '8']);
    ok(['vm0001', 'add', 'accept', 'example.com', 'udp']);
    ok(['vm0001', 'add', 'proto=icmp', 'drop', '10.1.1.1', '0']);
    expect(raw('vm0001').split('\n').slice(1)).toEqual([
      'action=accept proto=tcp dst4=192.168.0.0/24 dstports=80-90',
      'action=drop proto=icmp dst6=fd00::1/128 icmptype=8',
      'action=accept proto=udp dsthost=example.com',
      'action=drop proto=icmp dst4=10.1.1.1/32 icmptype=0',
      '',
    ]);
  });

  test('a prefix-0 destination keeps its address family through every change (the reference widens it: qubes-issues#9323)', () => {
    fs.mkdirSync(path.dirname(fwFile('vm0001')), { recursive: true });
    fs.writeFileSync(
      fwFile('vm0001'),
      '<firewall version="2"><rules><rule><properties><property name="action">drop</property><property name="dsthost">::/0</property></properties></rule></rules></firewall>',
    );
    expect(ok(['vm0001'])).toContain('0   drop    ::/0');
    expect(raw('vm0001')).toBe('action=drop dst6=::/0\n');
    ok(['vm0001', 'add', 'accept', '0.0.0.0/0', 'tcp', '22']);
    ok(['vm0001', 'add', 'action=accept', 'dst6=::/0']);
    ok(['vm0001', 'add', 'accept', 'dsthost=::/0', 'proto=udp']);
    ok(['vm0001', 'add', 'accept', 'dst4=0.0.0.0/0', 'icmp']);
    const rules = [
      'action=drop dst6=::/0',
      'action=accept proto=tcp dst4=0.0.0.0/0 dstports=22-22',
      'action=accept dst6=::/0',
      'action=accept proto=udp dst6=::/0',
      'action=accept proto=icmp dst4=0.0.0.0/0',
    ];
    expect(raw('vm0001')).toBe(`${rules.join('\n')}\n`);
    expect(ok(['vm0001']).split('\n').map((l) => l.split(/ +/)[2])).toEqual(['HOST', '::/0', '0.0.0.0/0', '::/0', '::/0', '0.0.0.0/0', undefined]);
    ok(['vm0001', 'del', 'action=accept', 'dst6=::/0']);
    ok(['vm0001', 'del', '--rule-no', '0']);
    expect(raw('vm0001')).toBe(`${[rules[1], rules[3], rules[4]].join('\n')}\n`);
    expect(stored('vm0001').map((r) => r.dsthost?.text)).toEqual(['0.0.0.0/0', '::/0', '0.0.0.0/0']);
  });
});

describe('add, del, reset', () => {
  const list = () => raw('vm0001').trimEnd().split('\n');
  beforeEach(() => {
    fs.mkdirSync(path.dirname(fwFile('vm0001')), { recursive: true });
    fs.writeFileSync(fwFile('vm0001'), serializeFirewallXml(['1', '2', '3'].map((n) => makeRule({ action: 'accept', dsthost: `h${n}.example` }))));
  });

  test('reset stores exactly the accept rule (and creates the file)', () => {
    ok(['vm0001', 'reset']);
    expect(fs.readFileSync(fwFile('vm0001'), 'utf8')).toBe(
      '<firewall version="2">\n  <rules>\n    <rule>\n      <properties>\n        <property name="action">accept</property>\n      </properties>\n    </rule>\n  </rules>\n</firewall>\n',
    );
    expect(fs.statSync(fwFile('vm0001')).mode & 0o777).toBe(0o664);
  });

  test('--before N: Python list.insert (past the end appends, negative counts from the end)', () => {
    ok(['vm0001', 'add', '--before', '0', 'drop', 'a.example']);
    ok(['vm0001', 'add', '--before', '99', 'drop', 'b.example']);
    ok(['vm0001', 'add', '--before', '-1', 'drop', 'c.example']);
    ok(['vm0001', 'add', '--before', '-99', 'drop', 'd.example']);
    expect(list().map((l) => l.replace(/^.*dsthost=/, ''))).toEqual(['d.example', 'a.example', 'h1.example', 'h2.example', 'h3.example', 'c.example', 'b.example']);
  });

  test('del --rule-no N (negative from the end), del RULE (first equal rule)', () => {
    ok(['vm0001', 'del', '--rule-no', '-1']);
    expect(list()).toEqual(['action=accept dsthost=h1.example', 'action=accept dsthost=h2.example']);
    ok(['vm0001', 'del', 'accept', 'h1.example']);
    expect(list()).toEqual(['action=accept dsthost=h2.example']);
    ok(['vm0001', 'del', 'action=accept', 'dsthost=h2.example']);
    expect(fs.readFileSync(fwFile('vm0001'), 'utf8')).toBe('<firewall version="2">\n  <rules/>\n</firewall>\n');
    expect(ok(['vm0001'])).toBe('NO  ACTION  HOST  PROTOCOL  PORT(S)  SPECIAL TARGET  ICMP TYPE  EXPIRE  COMMENT\n');
  });

  test.each<[string[], number, string]>([
    [['vm0001', 'add', 'allow'], 1, "invalid action: 'allow' (allowed: accept, drop)"],
    [['vm0001', 'add', 'accept', 'Example.com'], 1, 'Invalid hostname'],
    [['vm0001', 'add', 'accept', '1.2.3.4/33'], 1, 'netmask for IPv4 must be <= 32'],
    [['vm0001', 'add', 'accept', '::1/129'], 1, 'netmask for IPv6 must be <= 128'],
    [['vm0001', 'add', 'accept', 'host.example/8'], 1, 'Invalid IP address: host.example'],
    [['vm0001', 'add', 'accept', '1.2.3.4/x'], 1, 'bad prefix length'],
    [['vm0001', 'add', 'accept', 'a.b', 'sctp'], 1, "invalid proto: 'sctp' (allowed: tcp, udp, icmp)"],
    [['vm0001', 'add', 'accept', 'a.b', 'tcp', '65536'], 1, 'Ports out of range'],
    [['vm0001', 'add', 'accept', 'a.b', 'tcp', '90-80'], 1, 'Invalid port range'],
    [['vm0001', 'add', 'accept', 'dstports=80'], 1, "dstports valid only for 'tcp' and 'udp' protocols"],
    [['vm0001', 'add', 'accept', 'proto=udp', 'icmptype=8'], 1, "icmptype valid only for 'icmp' protocol"],
    [['vm0001', 'add', 'accept', 'a.b', 'icmp', '256'], 1, 'ICMP type out of range'],
    [['vm0001', 'add', 'accept', 'specialtarget=ntp'], 1, "invalid specialtarget: 'ntp' (allowed: dns)"],
    [['vm0001', 'add', 'accept', 'expire=soon'], 1, 'bad expiration time'],
    [['vm0001', 'add', 'accept', 'comment=50%'], 1, 'strange characters comment'],
    [['vm0001', 'add', 'dsthost=a.b'], 1, 'missing action='],
    [['vm0001', 'add', 'accept', 'dst4=example.com'], 1, "dst4 needs an IPv4 address or network: 'example.com'"],
    [['vm0001', 'add', 'accept', 'dst4=::/0'], 1, "dst4 needs an IPv4 address or network: '::/0'"],
    [['vm0001', 'add', 'accept', 'dst6=10.0.0.0/8', 'tcp'], 1, "dst6 needs an IPv6 address or network: '10.0.0.0/8'"],
    [['vm0001', 'del', 'accept', 'dst6=h1.example'], 1, "dst6 needs an IPv6 address or network: 'h1.example'"],
    [['vm0001', 'add', 'accept', 'comment=a=b'], 2, 'invalid rule description: comment=a=b'],
    [['vm0001', 'add', 'accept', 'action='], 2, 'invalid rule description: action='],
    [['vm0001', 'add', 'accept', 'port=80'], 2, 'Invalid rule element: port=80'],
    [['vm0001', 'add', 'accept', 'a.b', 'tcp', '80', 'x'], 2, 'too many rule elements without a key: x'],
    [['vm0001', 'add'], 2, 'the following arguments are required: RULE'],
    [['vm0001', 'add', '--before', 'x', 'accept'], 2, "argument --before: invalid int value: 'x'"],
    [['vm0001', 'del'], 2, 'del needs --rule-no or a rule'],
    [['vm0001', 'del', '--rule-no', '0', 'accept'], 2, 'give either --rule-no or a rule, not both'],
    [['vm0001', 'del', '--rule-no', '3'], 1, 'Rule number out of range: 3'],
    [['vm0001', 'del', '--rule-no', '-4'], 1, 'Rule number out of range: -4'],
    [['vm0001', 'del', 'drop', 'h1.example'], 1, 'Rule not found: action=drop dsthost=h1.example'],
    [['vm0001', 'reset', '--rule-no', '1'], 2, "option --rule-no is not valid with 'reset'"],
    [['vm0001', 'flush'], 2, "argument COMMAND: invalid choice: 'flush' (choose from list, add, del, reset)"],
    [['no-such-qube', 'add', 'accept'], 2, "no such domain: 'no-such-qube'"],
    [['dom0', 'add', 'accept'], 1, 'dom0 has no firewall'],
  ])('%j is refused (exit %d) with nothing changed', (args, code, message) => {
    const before = fs.readFileSync(fwFile('vm0001'));
    const mtime = fs.statSync(fwFile('vm0001')).mtimeMs;
    expect(fw(args)).toEqual({ code, stdout: '', stderr: `qvm-firewall: error: ${message}\n` });
    expect(fs.readFileSync(fwFile('vm0001'))).toEqual(before);
    expect(fs.statSync(fwFile('vm0001')).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(path.join(s.dir, 'appvms'))).toEqual(['vm0001']);
    expect(fs.readdirSync(path.dirname(fwFile('vm0001')))).toEqual(['firewall.xml']);
  });

  test('a refused first rule leaves no file behind', () => {
    expect(fw(['vm0002', 'add', 'accept', 'proto=tcp', 'dstports=0-70000']).code).toBe(1);
    expect(fs.existsSync(path.dirname(fwFile('vm0002')))).toBe(false);
  });

  test('an invalid firewall.xml is reported with its path and left alone', () => {
    fs.writeFileSync(fwFile('vm0001'), '<firewall version="3"><rules/></firewall>');
    const r = fw(['vm0001', 'add', 'accept']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `qvm-firewall: error: ${fwFile('vm0001')}: Unsupported firewall.xml version: 3\n` });
    expect(fs.readFileSync(fwFile('vm0001'), 'utf8')).toBe('<firewall version="3"><rules/></firewall>');
  });

  test('concurrent adds are serialised by the store lock: none is lost', async () => {
    const env = { ...s.env, QUBES_TEST_NOW: String(T0) };
    const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => runAsync('qvm-firewall', ['vm0001', 'add', 'drop', `${n}.example`], env)));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    expect(list().slice(3).sort()).toEqual(['a', 'b', 'c', 'd', 'e'].map((n) => `action=drop dsthost=${n}.example`));
  });
});

describe('expiring rules (clock injected with QUBES_TEST_NOW)', () => {
  test('a rule expiring in 5 s is there at 3 s and gone at 6 s; the sweep removes it from the file', () => {
    ok(['vm0001', 'add', '--before', '0', 'accept', '10.0.0.0/8', 'expire=+5'], T0 + 0.4);
    ok(['vm0001', 'add', 'drop', 'expire=' + String(T0 + 100)], T0 + 0.4);
    expect(raw('vm0001', T0 + 3)).toBe(`action=accept dst4=10.0.0.0/8 expire=${T0 + 5}\naction=accept\naction=drop expire=${T0 + 100}\n`);
    expect(ok(['vm0001'], T0 + 3)).toContain('0   accept  10.0.0.0/8  -         -        -               -          +2s     -\n');
    expect(ok(['vm0001'], T0 + 5)).toContain('+0s');
    expect(raw('vm0001', T0 + 6)).toBe(`action=accept\naction=drop expire=${T0 + 100}\n`);
    // Still in the file (nothing saved since) and counted in the QubesDB numbering.
    expect(stored('vm0001')).toHaveLength(3);
    expect(ok(['vm0001', 'list', '--qubesdb'], T0 + 6)).toBe(
      ['/qubes-firewall/10.137.0.5/policy drop', '/qubes-firewall/10.137.0.5/0001 action=accept', '/qubes-firewall/10.137.0.5/0002 action=drop', '/qubes-firewall/10.137.0.5', ''].join('\n'),
    );

    const expire = (args: string[], now: number) => run('qubes-firewall-expire', args, { ...s.env, QUBES_TEST_NOW: String(now) });
    expect(expire([], T0 + 5)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(expire(['--dry-run'], T0 + 6)).toEqual({ code: 0, stdout: 'vm0001: 1 expired rule to remove; rules to reload in sys-firewall\n', stderr: '' });
    expect(stored('vm0001')).toHaveLength(3);
    expect(expire([], T0 + 6)).toEqual({ code: 0, stdout: 'vm0001: 1 expired rule removed; rules to reload in sys-firewall\n', stderr: '' });
    expect(stored('vm0001')).toEqual([{ action: 'accept' }, { action: 'drop', expire: T0 + 100 }]);
    expect(expire([], T0 + 7)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('a reload that fails (libvirt out of reach) is reported for each qube, and the others are still reloaded; exit 1', () => {
    for (const vm of ['vm0001', 'vm0002']) ok([vm, 'add', 'drop', `expire=${T0 + 10}`]);
    // not offline: the reload asks libvirt, at a socket that is not there
    const env = { ...s.env, QUBES_OFFLINE_MODE: '', LIBVIRT_DEFAULT_URI: `qemu:///system?socket=${path.join(s.dir, 'no-libvirt-sock')}`, QUBES_TEST_NOW: String(T0 + 20) };
    const r = run('qubes-firewall-expire', [], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('vm0001: 1 expired rule removed; rules to reload in sys-firewall\nvm0002: 1 expired rule removed; rules to reload in sys-firewall\n');
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines.map((l) => l.replace(/: Cannot connect to libvirt .*/, ''))).toEqual([
      'qubes-firewall-expire: error: vm0001: cannot reload its firewall rules in sys-firewall',
      'qubes-firewall-expire: error: vm0002: cannot reload its firewall rules in sys-firewall',
    ]);
    expect(stored('vm0002')).toEqual([{ action: 'accept' }]);
  });

  test('any save drops expired rules; the sweep reports every qube and goes on past a broken file', () => {
    ok(['vm0001', 'add', 'drop', `expire=${T0 + 10}`]);
    ok(['vm0001', 'add', 'accept', 'a.example', 'tcp', '443'], T0 + 20);
    expect(stored('vm0001')).toEqual([{ action: 'accept' }, makeRule({ action: 'accept', dsthost: 'a.example', proto: 'tcp', dstports: '443' })]);

    for (const vm of ['vm0002', 'vm0003']) ok([vm, 'add', 'drop', `expire=${T0 + 10}`, `expire=${T0 + 10}`]);
    ok(['vm0003', 'add', 'drop', `expire=${T0 + 11}`]);
    fs.mkdirSync(path.dirname(fwFile('vm0000')), { recursive: true });
    fs.writeFileSync(fwFile('vm0000'), '<firewall version="2">');
    const r = run('qubes-firewall-expire', [], { ...s.env, QUBES_TEST_NOW: String(T0 + 30) });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      'vm0002: 1 expired rule removed; rules to reload in sys-firewall\nvm0003: 2 expired rules removed; rules to reload in sys-firewall\n',
    );
    expect(r.stderr).toMatch(/^qubes-firewall-expire: error: vm0000: .*firewall.xml: element <firewall> is not closed/);
    expect(stored('vm0003')).toEqual([{ action: 'accept' }]);
  });
});

describe('list --qubesdb: the QubesDB export', () => {
  test('per address family, with gaps for expired rules and rules of the other family', () => {
    // The net qube offers IPv6: the qube gets an IPv6 address too.
    expect(run('qvm-features', ['sys-firewall', 'ipv6', '1'], s.env).code).toBe(0);
    ok(['vm0001', 'reset']);
    ok(['vm0001', 'del', '--rule-no', '0']);
    for (const words of [
      ['accept', '192.168.0.0/24', 'tcp', '80-90', 'comment=LAN'],
      ['drop', 'proto=icmp', 'icmptype=8'],
      ['accept', 'specialtarget=dns'],
      ['accept', 'fd00::/8', 'udp'],
      ['accept', 'qubes-os.org', 'tcp', '443'],
      ['accept', 'proto=tcp', 'dstports=22', `expire=${T0 + 10}`],
      ['drop'],
    ])
      ok(['vm0001', 'add', ...words]);
    expect(ok(['vm0001', 'list', '--qubesdb'], T0 + 11)).toBe(
      [
        '/qubes-firewall/10.137.0.5/policy drop',
        '/qubes-firewall/10.137.0.5/0000 action=accept dst4=192.168.0.0/24 proto=tcp dstports=80-90',
        '/qubes-firewall/10.137.0.5/0001 action=drop proto=icmp icmptype=8',
        '/qubes-firewall/10.137.0.5/0002 action=accept specialtarget=dns',
        '/qubes-firewall/10.137.0.5/0004 action=accept dsthost=qubes-os.org proto=tcp dstports=443-443',
        '/qubes-firewall/10.137.0.5/0006 action=drop',
        '/qubes-firewall/10.137.0.5',
        '/qubes-firewall/fd09:24ef:4179::a89:5/policy drop',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0001 action=drop proto=icmp icmptype=8',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0002 action=accept specialtarget=dns',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0003 action=accept dst6=fd00::/8 proto=udp',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0004 action=accept dsthost=qubes-os.org proto=tcp dstports=443-443',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0006 action=drop',
        '/qubes-firewall/fd09:24ef:4179::a89:5',
        '',
      ].join('\n'),
    );
  });

  /** Rules with prefix-0 destinations of either family, stored; what `list --qubesdb` prints for them. */
  const prefixZeroRules = (): string => {
    expect(run('qvm-features', ['sys-firewall', 'ipv6', '1'], s.env).code).toBe(0);
    ok(['vm0001', 'reset']);
    ok(['vm0001', 'del', '--rule-no', '0']);
    for (const words of [['accept', 'dst6=::/0', 'tcp', '443'], ['accept', 'dst4=0.0.0.0/0', 'udp', '53'], ['accept', 'dsthost=::/0', 'icmp'], ['drop']])
      ok(['vm0001', 'add', ...words]);
    return ok(['vm0001', 'list', '--qubesdb']);
  };

  test('a prefix-0 destination goes to its own family only', () => {
    expect(prefixZeroRules()).toBe(
      [
        '/qubes-firewall/10.137.0.5/policy drop',
        '/qubes-firewall/10.137.0.5/0001 action=accept dst4=0.0.0.0/0 proto=udp dstports=53-53',
        '/qubes-firewall/10.137.0.5/0003 action=drop',
        '/qubes-firewall/10.137.0.5',
        '/qubes-firewall/fd09:24ef:4179::a89:5/policy drop',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0000 action=accept dst6=::/0 proto=tcp dstports=443-443',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0002 action=accept dst6=::/0 proto=icmp',
        '/qubes-firewall/fd09:24ef:4179::a89:5/0003 action=drop',
        '/qubes-firewall/fd09:24ef:4179::a89:5',
        '',
      ].join('\n'),
    );
  });

  testWithout(referenceCoreMissing(), 'the reference core reads the stored prefix-0 rules into the same entries per family', () => {
    const out = prefixZeroRules();
    // The reference core loading the same firewall.xml exports the same entries per family.
    const ours: Record<string, Record<string, string>> = { '4': {}, '6': {} };
    for (const line of out.trimEnd().split('\n')) {
      const m = /^\/qubes-firewall\/([^/]+)\/(\S+) (.*)$/.exec(line);
      if (m) (ours[(m[1] as string).includes(':') ? '6' : '4'] as Record<string, string>)[m[2] as string] = m[3] as string;
    }
    expect(referenceEntries(path.dirname(fwFile('vm0001')))).toEqual(ours);
  });

  test('a qube without a netvm gets nothing', () => {
    expect(run('qvm-prefs', ['vm0001', 'netvm', ''], s.env).code).toBe(0);
    expect(fw(['vm0001', 'list', '--qubesdb'])).toEqual({ code: 0, stdout: '', stderr: 'qvm-firewall: vm0001 has no IP address (no netvm): nothing to write\n' });
    expect(fw(['-q', 'vm0001', 'list', '--qubesdb'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('--reload: nothing runs offline; online it needs the hypervisor', () => {
    expect(fw(['--reload', 'vm0001'])).toMatchObject({ code: 0, stderr: '' });
    const uri = 'xen:///?socket=/nonexistent/libvirt-sock';
    const r = run('qvm-firewall', ['-r', '--raw', 'vm0001'], { ...s.env, QUBES_OFFLINE_MODE: '', LIBVIRT_DEFAULT_URI: uri });
    expect(r.stdout).toBe('action=accept\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`qvm-firewall: error: Cannot connect to libvirt at ${uri}: /nonexistent/libvirt-sock does not exist (is libvirtd running?)\n`);
  });
});

describe('qvm-clone and qvm-remove carry the rules along', () => {
  /** A store whose pools are in its directory, with vm0001's private image, so vm0001 can be cloned. */
  const cloneableStore = () => {
    fs.rmSync(s.dir, { recursive: true, force: true });
    s = tmpStoreLocalPools('qubes-xml/q10.xml');
    fs.mkdirSync(path.join(s.dir, 'appvms', 'vm0001'), { recursive: true });
    fs.writeFileSync(path.join(s.dir, 'appvms', 'vm0001', 'private.img'), 'data');
  };

  test('a clone gets the rules in force; removal deletes the qube directory with firewall.xml', () => {
    cloneableStore();
    ok(['vm0001', 'add', '--before', '0', 'drop', 'a.example']);
    ok(['vm0001', 'add', 'drop', `expire=${Math.floor(Date.now() / 1000) - 10}`]);
    expect(run('qvm-clone', ['vm0001', 'copy'], s.env)).toMatchObject({ code: 0, stderr: '' });
    expect(raw('copy')).toBe('action=drop dsthost=a.example\naction=accept\n');
    expect(run('qvm-remove', ['-f', 'copy'], s.env).code).toBe(0);
    expect(fs.existsSync(path.dirname(fwFile('copy')))).toBe(false);
    // A new qube of the same name starts with the default rule, not the old ones.
    expect(run('qvm-create', ['-l', 'red', '-t', 'fedora-41', 'copy'], s.env).code).toBe(0);
    expect(raw('copy')).toBe('action=accept\n');
  });

  test('a clone keeps prefix-0 destinations with their family', () => {
    cloneableStore();
    ok(['vm0001', 'add', '--before', '0', 'accept', 'dst6=::/0']);
    ok(['vm0001', 'add', '--before', '1', 'accept', 'dst4=0.0.0.0/0', 'tcp', '22']);
    ok(['vm0001', 'add', 'drop']);
    expect(run('qvm-clone', ['vm0001', 'copy'], s.env)).toMatchObject({ code: 0, stderr: '' });
    expect(raw('copy')).toBe('action=accept dst6=::/0\naction=accept proto=tcp dst4=0.0.0.0/0 dstports=22-22\naction=accept\naction=drop\n');
    expect(fs.readFileSync(fwFile('copy'), 'utf8')).toBe(fs.readFileSync(fwFile('vm0001'), 'utf8'));
  });

  test('a qube whose images live elsewhere still loses its directory on removal', () => {
    ok(['vm0002', 'add', 'drop']);
    expect(run('qvm-remove', ['-f', 'vm0002'], s.env)).toMatchObject({ code: 0 });
    expect(fs.existsSync(path.dirname(fwFile('vm0002')))).toBe(false);
  });
});

testLacking({ machine: lackingRoot() }, 'a save on a full filesystem fails cleanly: old file intact, no temporary file (tmpfs)', () => {
  ok(['vm0001', 'add', 'drop', 'a.example']);
  const dir = path.dirname(fwFile('vm0001'));
  const before = fs.readFileSync(fwFile('vm0001'));
  fs.renameSync(dir, `${dir}.saved`);
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  try {
    fs.copyFileSync(`${dir}.saved/firewall.xml`, fwFile('vm0001'));
    try {
      fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(64 * 1024));
    } catch {
      /* ENOSPC: the filesystem is full now */
    }
    const r = fw(['vm0001', 'add', 'drop', 'b.example']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `qvm-firewall: error: firewall save error: ${fwFile('vm0001')}: no space left on device\n` });
    expect(fs.readFileSync(fwFile('vm0001'))).toEqual(before);
    expect(fs.readdirSync(dir).sort()).toEqual(['filler', 'firewall.xml']);
  } finally {
    execFileSync('umount', [dir]);
  }
});

// systemd is no package scripts/test.sh installs: a machine without it skips
testLacking({ machine: available('systemd-analyze') ? [] : ['systemd-analyze'] }, 'the systemd units in contrib/ are valid and run the command', () => {
  const dir = tmpDir('qubes-units-');
  for (const u of ['qubes-firewall-expire.service', 'qubes-firewall-expire.timer']) {
    const text = fs.readFileSync(path.join(ROOT, 'contrib', 'systemd', u), 'utf8');
    if (u.endsWith('.service')) expect(text).toMatch(/^ExecStart=\/usr\/bin\/qubes-firewall-expire$/m);
    fs.writeFileSync(path.join(dir, u), text.replace('/usr/bin/qubes-firewall-expire', path.join(ROOT, 'bin', 'qubes-firewall-expire')));
  }
  const r = spawnSync('systemd-analyze', ['verify', path.join(dir, 'qubes-firewall-expire.timer'), path.join(dir, 'qubes-firewall-expire.service')], {
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});
