import { runIn, tmpStore } from '../helpers.js';

describe('qvm-tags', () => {
  test('lists tags sorted by codepoint', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-tags', ['vm0001'], s.env)).toEqual({ code: 0, stdout: 'audiovm-dom0\nbulk-import\nguivm-dom0\n', stderr: '' });
    expect(await runIn('qvm-tags', ['dom0'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('add several tags at once; adding an existing tag is a no-op', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-tags', ['vm0001', 'add', 'zeta', 'alpha', 'Beta'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<tag name="zeta"/>');
    expect((await runIn('qvm-tags', ['vm0001', 'list'], s.env)).stdout).toBe('Beta\nalpha\naudiovm-dom0\nbulk-import\nguivm-dom0\nzeta\n');
    expect((await runIn('qvm-tags', ['vm0001', 'add', 'alpha'], s.env)).code).toBe(0);
    expect(s.read().match(/<tag name="alpha"\/>/g)).toHaveLength(1);
  });

  test('del removes exactly one tag; a missing tag is not an error', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    await runIn('qvm-tags', ['vm0001', 'add', 'one', 'two'], s.env);
    expect(await runIn('qvm-tags', ['vm0001', 'del', 'one'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-tags', ['vm0001'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\nguivm-dom0\ntwo\n');
    const before = s.read();
    expect(await runIn('qvm-tags', ['vm0001', 'del', 'one'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toBe(before);
  });

  test('del with two tags or none is a usage error', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    await runIn('qvm-tags', ['vm0001', 'add', 'one', 'two'], s.env);
    const before = s.read();
    for (const args of [['vm0001', 'del', 'one', 'two'], ['vm0001', 'del'], ['vm0001', 'bogus', 'x']]) {
      const r = await runIn('qvm-tags', args, s.env);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^qvm-tags: error: /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(s.read()).toBe(before);
  });

  test('ls TAG exits 0 and prints the tag if present, 1 silently if absent', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await runIn('qvm-tags', ['vm0001', 'ls', 'bulk-import'], s.env)).toEqual({ code: 0, stdout: 'bulk-import\n', stderr: '' });
    expect(await runIn('qvm-tags', ['vm0001', 'list', 'nope'], s.env)).toEqual({ code: 1, stdout: '', stderr: '' });
    expect(await runIn('qvm-tags', ['vm0001', 'l', 'nope'], s.env)).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  test('command aliases a, set, d, unset, u, l', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-tags', ['vm0001', 'a', 't1'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001', 'set', 't2', 't3', 't4'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001', 'l'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\nguivm-dom0\nt1\nt2\nt3\nt4\n');
    expect((await runIn('qvm-tags', ['vm0001', 'd', 't1'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001', 'unset', 't2'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001', 'u', 't3'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001', 'ls'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\nguivm-dom0\nt4\n');
    expect(s.read()).not.toMatch(/name="t[123]"/);
  });

  test('invalid tags are refused with exit 1', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const before = s.read();
    for (const t of ['a.b', '', 'sp ace', 'x/y']) {
      const r = await runIn('qvm-tags', ['vm0001', 'add', t], s.env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^qvm-tags: error: Invalid tag: /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    // a valid tag next to an invalid one is not added either
    expect((await runIn('qvm-tags', ['vm0001', 'add', 'good', 'bad!'], s.env)).code).toBe(1);
    expect(s.read()).toBe(before);
  });

  test('guivm-NAME tag follows the guivm property', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-prefs', ['vm0001', 'guivm', 'sys-net'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\nguivm-sys-net\n');
    expect((await runIn('qvm-prefs', ['vm0001', 'guivm', 'none'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\n');
    expect((await runIn('qvm-prefs', ['vm0001', 'guivm', '-D'], s.env)).code).toBe(0);
    expect((await runIn('qvm-tags', ['vm0001'], s.env)).stdout).toBe('audiovm-dom0\nbulk-import\nguivm-dom0\n');
  });
});
