import { runIn, tmpStore } from '../helpers.js';

const lines = (out: string) => out.split('\n').filter((l) => l !== '');

describe('qubes-prefs', () => {
  test('listing of the global properties', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qubes-prefs', [], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    for (const l of [
      'default_netvm             -  sys-firewall',
      'default_guivm             D  dom0',
      'default_qrexec_timeout    D  60',
      'default_kernel            -  None',
      'default_template          -  fedora-41',
      'clockvm                   D  None',
      'check_updates_vm          D  True',
      'stats_interval            D  3',
      'default_pool_kernel       -  linux-kernel',
    ])
      expect(out).toContain(l);
    const names = out.map((l) => l.split(' ')[0]);
    expect(names).toEqual([...names].sort());
    // default_shutdown_timeout (24 chars) is the longest: markers at column 26
    for (const l of out) expect(['-', 'D', 'U']).toContain(l[26]);
    expect((await runIn('qubes-prefs', ['--hide-default'], s.env)).stdout).toBe(
      [
        'default_kernel            -  None',
        'default_netvm             -  sys-firewall',
        'default_pool_kernel       -  linux-kernel',
        'default_template          -  fedora-41',
        '',
      ].join('\n'),
    );
  });

  test('get prints the value', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qubes-prefs', ['default_netvm'], s.env)).toEqual({ code: 0, stdout: 'sys-firewall\n', stderr: '' });
    expect((await runIn('qubes-prefs', ['default-qrexec-timeout'], s.env)).stdout).toBe('60\n');
    expect(await runIn('qubes-prefs', ['clockvm'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('default_netvm none is stored as empty text and re-targets qubes using the default', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qubes-prefs', ['default_netvm', 'none'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<property name="default_netvm"></property>');
    expect((await runIn('qubes-prefs', ['default_netvm'], s.env)).stdout).toBe('');
    expect(await runIn('qvm-prefs', ['vm0001', 'netvm'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    // a qube with an explicit netvm keeps it
    expect((await runIn('qvm-prefs', ['sys-firewall', 'netvm'], s.env)).stdout).toBe('sys-net\n');

    expect((await runIn('qubes-prefs', ['default_netvm', 'sys-firewall'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<property name="default_netvm">sys-firewall</property>');
    expect((await runIn('qvm-prefs', ['vm0001', 'netvm'], s.env)).stdout).toBe('sys-firewall\n');
  });

  test('reset of default_template removes it from the file', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qubes-prefs', ['-D', 'default_template'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).not.toContain('default_template');
    expect(lines((await runIn('qubes-prefs', [], s.env)).stdout)).toContain('default_template          U');
    expect(await runIn('qubes-prefs', ['default_template'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qubes-prefs', ['default_template', 'fedora-41'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<property name="default_template">fedora-41</property>');
  });

  test('invalid values and unknown properties', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    expect(await runIn('qubes-prefs', ['default_template', 'vm0001'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qubes-prefs: error: Qube vm0001 is not a TemplateVM\n',
    });
    expect(await runIn('qubes-prefs', ['no_such_prop'], s.env)).toEqual({
      code: 2,
      stdout: '',
      stderr: "qubes-prefs: error: no such property: 'no_such_prop'\n",
    });
    expect((await runIn('qubes-prefs', ['no_such_prop', 'x'], s.env)).code).toBe(2);
    const r = await runIn('qubes-prefs', ['default_qrexec_timeout', 'soon'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qubes-prefs: error: Invalid literal for integer property default_qrexec_timeout: 'soon'$/m);
    expect((await runIn('qubes-prefs', ['no_cpus', '4'], s.env)).code).toBe(1);
    expect(s.read()).toBe(before);
  });

  test('clockvm maintains service.clocksync on the clock qube', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qubes-prefs', ['clockvm', 'sys-net'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-features', ['sys-net'], s.env)).stdout).toBe('service.clocksync  1\n');
    expect((await runIn('qvm-features', ['sys-net', 'service.clocksync'], s.env)).stdout).toBe('1\n');

    expect((await runIn('qubes-prefs', ['clockvm', 'sys-firewall'], s.env)).code).toBe(0);
    expect((await runIn('qvm-features', ['sys-firewall'], s.env)).stdout).toBe('service.clocksync  1\n');
    expect((await runIn('qvm-features', ['sys-net'], s.env)).stdout).toBe('');
    expect((await runIn('qvm-features', ['sys-net', 'service.clocksync'], s.env)).code).toBe(1);
    expect((await runIn('qubes-prefs', ['clockvm'], s.env)).stdout).toBe('sys-firewall\n');
  });

  test('default_netvm that would create a loop is refused', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    // vm0000 provides network and uses the default netvm: making it the default loops.
    expect((await runIn('qvm-prefs', ['vm0000', 'provides_network', 'True'], s.env)).code).toBe(0);
    const before = s.read();
    const r = await runIn('qubes-prefs', ['default_netvm', 'vm0000'], s.env);
    expect(r).toEqual({ code: 1, stdout: '', stderr: "qubes-prefs: error: Network loop on 'vm0000'\n" });
    expect(s.read()).toBe(before);
    // with an explicit netvm it is fine
    expect((await runIn('qvm-prefs', ['vm0000', 'netvm', 'sys-firewall'], s.env)).code).toBe(0);
    expect((await runIn('qubes-prefs', ['default_netvm', 'vm0000'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['vm0001', 'netvm'], s.env)).stdout).toBe('vm0000\n');
  });

  test('default_netvm must provide network', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qubes-prefs', ['default_netvm', 'vm0001'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qubes-prefs: error: .*vm0001.*does not provide network/);
  });
});
