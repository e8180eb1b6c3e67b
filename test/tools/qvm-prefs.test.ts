import fs from 'node:fs';
import { runIn, tmpStore } from '../helpers.js';

const lines = (out: string) => out.split('\n').filter((l) => l !== '');

describe('qvm-prefs listing', () => {
  test('full listing of an AppVM in offline mode', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-prefs', ['vm0001'], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    for (const l of [
      'label                 -  orange',
      'netvm                 D  sys-firewall',
      'maxmem                U',
      'xid                   D  -1',
      'backup_timestamp      U',
      'ip                    D  10.137.0.5',
      'kernel                D  None',
      'template              -  fedora-41',
      'qid                   -  5',
      'memory                D  400',
      'virt_mode             D  pvh',
      'autostart             D  False',
      'default_dispvm        D  None',
      'visible_gateway       D  10.137.0.3',
    ])
      expect(out).toContain(l);
    // string without value: marker then two spaces and nothing
    expect(r.stdout).toContain('\ngateway               D  \n');
    const names = out.map((l) => l.split(' ')[0] as string);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('template_for_dispvms');
    // column width = longest name + 2 (template_for_dispvms: 20 chars -> markers at column 22)
    const width = Math.max(...names.map((n) => n.length)) + 2;
    expect(width).toBe(22);
    for (const l of out) {
      expect(l.slice(0, width).trimEnd()).toBe(l.split(' ')[0]);
      expect(l[width - 1]).toBe(' ');
      expect(['-', 'D', 'U']).toContain(l[width]);
    }
  });

  test('--hide-default shows only explicitly set properties', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-prefs', ['--hide-default', 'vm0001'], s.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'label                 -  orange',
        'name                  -  vm0001',
        'qid                   -  5',
        'template              -  fedora-41',
        'uuid                  -  8fdd92b8-f91c-4f47-a164-ef68efdd8476',
        '',
      ].join('\n'),
    );
  });

  test('dom0 listing', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-prefs', ['dom0'], s.env);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      'default_dispvm      D  None',
      'devices_denied      D  ',
      'icon                D  adminvm-black',
      'include_in_backups  D  True',
      'keyboard_layout     D  us++',
      'klass               D  AdminVM',
      'label               -  black',
      'maxmem              D  4096',
      'name                D  dom0',
      'qid                 D  0',
      'updateable          D  True',
      'uuid                D  00000000-0000-0000-0000-000000000000',
      'xid                 D  0',
    ]);
  });

  test('--help-properties lists properties with their documentation', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-prefs', ['vm0001', '--help-properties'], s.env);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out).toContain('  audiovm               VM used for Audio');
    expect(out).toContain('  debug                 Turns on debugging features.');
    // continuation lines are indented by longest name + 6
    const i = out.indexOf('  autostart             Setting this to True means that VM should be');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(out[i + 1]).toBe(' '.repeat(26) + 'autostarted on dom0 boot.');
    for (const l of out) expect(l.length).toBeLessThanOrEqual(80);
    const names = out.filter((l) => /^  \S/.test(l)).map((l) => l.trim().split(' ')[0]);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('netvm');
  });
});

describe('qvm-prefs get and set', () => {
  test('get a VM property prints the name', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-prefs', ['vm0001', 'netvm'], s.env)).toEqual({ code: 0, stdout: 'sys-firewall\n', stderr: '' });
    expect(await runIn('qvm-prefs', ['vm0001', 'template'], s.env)).toEqual({ code: 0, stdout: 'fedora-41\n', stderr: '' });
  });

  test('get of a none or valueless property prints nothing, exit 0', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    for (const p of ['default_dispvm', 'backup_timestamp', 'maxmem'])
      expect(await runIn('qvm-prefs', ['vm0001', p], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('get with --hide-default prints nothing for a default value', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-prefs', ['--hide-default', 'vm0001', 'memory'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-prefs', ['--hide-default', 'vm0001', 'label'], s.env)).stdout).toBe('orange\n');
  });

  test('set then get', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-prefs', ['vm0001', 'memory', '800'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<property name="memory">800</property>');
    expect((await runIn('qvm-prefs', ['vm0001', 'memory'], s.env)).stdout).toBe('800\n');
    expect(lines((await runIn('qvm-prefs', ['vm0001'], s.env)).stdout)).toContain('memory                -  800');
  });

  test('--get and --set are accepted and ignored', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-prefs', ['--set', 'vm0001', 'vcpus', '3'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['--get', 'vm0001', 'vcpus'], s.env)).stdout).toBe('3\n');
  });

  test('`-` is accepted for `_` in property names, and -D resets to default', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-prefs', ['vm0001', 'virt-mode', 'hvm'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<property name="virt_mode">hvm</property>');
    expect((await runIn('qvm-prefs', ['vm0001', 'virt_mode'], s.env)).stdout).toBe('hvm\n');
    expect(lines((await runIn('qvm-prefs', ['vm0001'], s.env)).stdout)).toContain('virt_mode             -  hvm');
    expect(await runIn('qvm-prefs', ['-D', 'vm0001', 'virt-mode'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).not.toContain('name="virt_mode"');
    expect(lines((await runIn('qvm-prefs', ['vm0001'], s.env)).stdout)).toContain('virt_mode             D  pvh');
    // --default after the property name works too
    await runIn('qvm-prefs', ['vm0001', 'memory', '900'], s.env);
    expect((await runIn('qvm-prefs', ['vm0001', 'memory', '--default'], s.env)).code).toBe(0);
    expect(lines((await runIn('qvm-prefs', ['vm0001'], s.env)).stdout)).toContain('memory                D  400');
  });

  test('netvm none stores an empty property and get prints nothing', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-prefs', ['vm0001', 'netvm', 'none'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    const xml = s.read();
    const dom = xml.slice(xml.indexOf('<property name="name">vm0001</property>'));
    expect(dom.slice(0, dom.indexOf('</domain>'))).toContain('<property name="netvm"></property>');
    expect(await runIn('qvm-prefs', ['vm0001', 'netvm'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    const out = lines((await runIn('qvm-prefs', ['vm0001'], s.env)).stdout);
    expect(out).toContain('netvm                 -  None');
    // no netvm: no address
    expect(out).toContain('ip                    D  ');
    // `None` in any case works too
    expect((await runIn('qvm-prefs', ['vm0002', 'netvm', 'NONE'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['vm0002', 'netvm'], s.env)).stdout).toBe('');
  });

  test('maxmem below memory warns on stderr but succeeds', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-prefs', ['vm0001', 'memory', '800'], s.env)).code).toBe(0);
    const r = await runIn('qvm-prefs', ['vm0001', 'maxmem', '500'], s.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^qvm-prefs: warning: .*maxmem.*500.*800/);
    expect((await runIn('qvm-prefs', ['vm0001', 'maxmem'], s.env)).stdout).toBe('500\n');
    // 0 disables balancing: no warning
    expect(await runIn('qvm-prefs', ['vm0001', 'maxmem', '0'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    // above memory: no warning
    expect(await runIn('qvm-prefs', ['vm0001', 'maxmem', '4000'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('qvm-prefs errors', () => {
  test('no VMNAME is a one-line usage error', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-prefs', [], s.env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^qvm-prefs: error: .*VMNAME/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a value together with --default is a usage error', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    const r = await runIn('qvm-prefs', ['vm0001', 'memory', '500', '--default'], s.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^qvm-prefs: error: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(s.read()).toBe(before);
  });

  test('unknown property exits 2 for get, set and reset', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    for (const args of [['vm0001', 'nope'], ['vm0001', 'nope', '1'], ['vm0001', 'nope', '-D'], ['dom0', 'netvm']]) {
      const r = await runIn('qvm-prefs', args, s.env);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`qvm-prefs: error: no such property: '${args[1]}'\n`);
    }
  });

  test("dom0's name cannot be set", async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    const r = await runIn('qvm-prefs', ['dom0', 'name', 'foo'], s.env);
    expect(r).toEqual({ code: 1, stdout: '', stderr: "qvm-prefs: error: property 'name' cannot be set\n" });
    expect(s.read()).toBe(before);
    // dom0's label can be changed
    expect((await runIn('qvm-prefs', ['dom0', 'label', 'purple'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['dom0', 'label'], s.env)).stdout).toBe('purple\n');
  });

  test('ip and ip6 take only real addresses (the firewall parser), with the reference message; ip6 stored canonical', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    for (const [prop, value, type] of [
      ['ip', '999.999.999.999', 'IPv4Address'],
      ['ip', '10.0.0.01', 'IPv4Address'],
      ['ip', '10.0.0', 'IPv4Address'],
      ['ip', 'fd00::1', 'IPv4Address'],
      ['ip6', 'zzzz', 'IPv6Address'],
      ['ip6', '1::2::3', 'IPv6Address'],
      ['ip6', 'fe80::1%eth0', 'IPv6Address'],
      ['ip6', '10.0.0.1', 'IPv6Address'],
    ]) {
      const r = await runIn('qvm-prefs', ['vm0001', prop as string, value as string], s.env);
      expect({ value, ...r }).toEqual({ value, code: 1, stdout: '', stderr: `qvm-prefs: error: Failed to parse property value as ${type}: '${value}'\n` });
    }
    expect(s.read()).toBe(before);
    expect((await runIn('qvm-prefs', ['vm0001', 'ip', '10.137.0.99'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['vm0001', 'ip6', 'FD09:24ef:0:0::0a89:5'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['vm0001', 'ip6'], s.env)).stdout).toBe('fd09:24ef::a89:5\n');
    expect(s.read()).toContain('<property name="ip6">fd09:24ef::a89:5</property>');
    expect(s.read()).toContain('<property name="ip">10.137.0.99</property>');
    fs.rmSync(s.dir, { recursive: true, force: true });
  });

  test('computed properties cannot be set or reset', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    for (const args of [['vm0001', 'visible_ip', '10.0.0.1'], ['vm0001', 'klass', 'AppVM'], ['vm0001', 'updateable', 'True']]) {
      const r = await runIn('qvm-prefs', args, s.env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot be set/);
    }
  });
});
