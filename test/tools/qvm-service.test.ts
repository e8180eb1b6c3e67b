import { runIn, tmpStore } from '../helpers.js';

describe('qvm-service', () => {
  test('lists services as a two-column table in feature order', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-service', ['vm0001'], s.env)).toEqual({ code: 0, stdout: 'cups  on\n', stderr: '' });
    expect((await runIn('qvm-service', ['-l', 'vm0001'], s.env)).stdout).toBe('cups  on\n');
    // non-service features are not listed
    expect((await runIn('qvm-features', ['vm0001', 'x-other', '1'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001', 'zz', 'on'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001', 'apache', 'off'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['--list', 'vm0001'], s.env)).stdout).toBe('cups    on\nzz      on\napache  off\n');
    expect(await runIn('qvm-service', ['fedora-41'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('enable, disable and unset', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-service', ['-e', 'vm0001', 'foo'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<feature name="service.foo">1</feature>');
    expect((await runIn('qvm-service', ['vm0001', 'foo'], s.env)).stdout).toBe('on\n');
    expect((await runIn('qvm-service', ['-d', 'vm0001', 'foo'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<feature name="service.foo"></feature>');
    expect((await runIn('qvm-service', ['vm0001', 'foo'], s.env)).stdout).toBe('off\n');
    expect(await runIn('qvm-service', ['-D', 'vm0001', 'foo'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).not.toContain('service.foo');
    // unsetting an absent service is fine
    expect((await runIn('qvm-service', ['--unset', 'vm0001', 'foo'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['--default', 'vm0001', 'cups'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001'], s.env)).stdout).toBe('');
    expect((await runIn('qvm-features', ['vm0001'], s.env)).stdout).toBe('');
  });

  test('values are parsed as booleans, case-insensitively', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    for (const [v, stored, shown] of <[string, string, string][]>[
      ['yes', '1', 'on'],
      ['Off', '', 'off'],
      ['TRUE', '1', 'on'],
      ['0', '', 'off'],
      ['No', '', 'off'],
      ['1', '1', 'on'],
    ]) {
      expect(await runIn('qvm-service', ['vm0001', 'svc', v], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(s.read()).toContain(`<feature name="service.svc">${stored}</feature>`);
      expect((await runIn('qvm-service', ['vm0001', 'svc'], s.env)).stdout).toBe(`${shown}\n`);
    }
  });

  test('an invalid value is refused', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    expect(await runIn('qvm-service', ['vm0001', 'svc', 'maybe'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: "qvm-service: error: Invalid literal for boolean value: 'maybe'\n",
    });
    expect(s.read()).toBe(before);
  });

  test('get of an absent service exits 1 silently', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-service', ['vm0001', 'nope'], s.env)).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  test('options may follow positionals', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-service', ['vm0001', '--enable', 'foo'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001', 'bar', '--disable'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001', 'cups', '-D'], s.env)).code).toBe(0);
    expect((await runIn('qvm-service', ['vm0001'], s.env)).stdout).toBe('foo  on\nbar  off\n');
  });

  test('usage errors exit 2 with one line and change nothing', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    for (const args of [
      ['vm0001', '-D', 'cups', 'on'],
      ['vm0001', '-D'],
      ['vm0001', '--enable'],
      ['no-such-vm', 'cups'],
      [],
    ]) {
      const r = await runIn('qvm-service', args, s.env);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^qvm-service: error: /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(s.read()).toBe(before);
  });

  test('invalid service names are refused', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-service', ['vm0001', 'a/b', 'on'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qvm-service: error: /);
    expect(s.read()).not.toContain('service.a/b');
  });
});
