import { runIn, tmpStore } from '../helpers.js';

describe('qvm-features', () => {
  test('lists, sets, gets and removes features in the store', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-features', ['vm0001'], s.env)).stdout).toBe('service.cups  1\n');
    expect((await runIn('qvm-features', ['vm0001', 'x-foo', 'bar baz'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<feature name="x-foo">bar baz</feature>');
    expect((await runIn('qvm-features', ['vm0001', 'x-foo'], s.env)).stdout).toBe('bar baz\n');
    expect((await runIn('qvm-features', ['vm0001', 'x-foo', '-D'], s.env)).code).toBe(0);
    expect(s.read()).not.toContain('x-foo');
  });

  test('an absent feature exits 1 silently', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-features', ['vm0001', 'nope'], s.env);
    expect(r).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  test('usage errors exit 2 with one line and change nothing', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    for (const args of [['vm0001', '-D'], ['vm0001', 'f', 'v', '-D'], ['no-such-vm', 'f', 'v']]) {
      const r = await runIn('qvm-features', args, s.env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^qvm-features: error: /);
    }
    expect(s.read()).toBe(before);
  });

  test('vm-config.* names the reference refuses (they become QubesDB keys and file names): exit 1, nothing stored', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    for (const [name, why] of [
      ['vm-config.', 'Empty config name not allowed'],
      ['vm-config.-x', 'Config name must start with an ASCII letter'],
      ['vm-config.9lives', 'Config name must start with an ASCII letter'],
      [`vm-config.${'a'.repeat(53)}`, 'VM config name must not exceed 46 bytes'],
    ]) {
      expect(await runIn('qvm-features', ['vm0001', name as string, 'v'], s.env)).toEqual({ code: 1, stdout: '', stderr: `qvm-features: error: ${why}\n` });
    }
    expect(s.read()).toBe(before);
    expect((await runIn('qvm-features', ['vm0001', `vm-config.${'a'.repeat(52)}`, 'v'], s.env)).code).toBe(0);
  });

  test('service.meminfo-writer=0 becomes maxmem=0 and is not stored', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-features', ['vm0001', 'service.meminfo-writer', ''], s.env)).code).toBe(0);
    expect(s.read()).not.toContain('meminfo-writer');
    expect((await runIn('qvm-prefs', ['vm0001', 'maxmem'], s.env)).stdout).toBe('0\n');
  });
});
