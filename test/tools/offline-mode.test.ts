import { runIn, tmpStore } from '../helpers.js';

/** The store env without any offline-mode setting. */
function online(s: ReturnType<typeof tmpStore>, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...s.env };
  delete env.QUBES_OFFLINE_MODE;
  delete env.LIBVIRT_DEFAULT_URI;
  return { ...env, ...extra };
}

const QUBES = ['fedora-41', 'sys-firewall', 'sys-net', ...Array.from({ length: 10 }, (_, i) => `vm000${i}`)];

function expectOfflineListing(stdout: string) {
  const rows = stdout.trim().split('\n').map((l) => l.split(/\s+/));
  expect(rows[0]).toEqual(['NAME', 'STATE']);
  expect(rows.slice(1)).toEqual([['dom0', 'Running'], ...QUBES.map((n) => [n, 'Halted'])]);
}

// Offline mode also turns on automatically for root inside a chroot; these tests run outside one.
describe('offline mode', () => {
  test('without offline mode qvm-ls asks the hypervisor; unreachable, it lists NA states and says why in one line', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['-O', 'NAME,STATE'], online(s));
    expect(r.code).toBe(1);
    const rows = r.stdout.trim().split('\n').map((l) => l.split(/\s+/));
    expect(rows.slice(1)).toEqual([['dom0', 'Running'], ...QUBES.map((n) => [n, 'NA'])]);
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^qvm-ls: warning: Cannot (connect to|open) libvirt .*xen:\/\/\/.*; power states are shown as NA$/);
  });

  test('the message names LIBVIRT_DEFAULT_URI', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const uri = 'qemu:///system?socket=/nonexistent/libvirt-sock';
    const r = await runIn('qvm-ls', [], online(s, { LIBVIRT_DEFAULT_URI: uri }));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`qvm-ls: warning: Cannot connect to libvirt at ${uri}: /nonexistent/libvirt-sock does not exist (is libvirtd running?); power states are shown as NA\n`);
    expect(r.stderr).not.toContain('xen:///');
  });

  test('tools that only touch the store work without connecting', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const env = online(s);
    expect(await runIn('qvm-prefs', ['vm0001', 'memory', '500'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<property name="memory">500</property>');
    expect(await runIn('qvm-prefs', ['vm0001', 'memory'], env)).toEqual({ code: 0, stdout: '500\n', stderr: '' });
    expect(await runIn('qvm-features', ['vm0001', 'x-foo', 'bar'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await runIn('qvm-features', ['vm0001'], env)).toEqual({ code: 0, stdout: 'service.cups  1\nx-foo         bar\n', stderr: '' });
    expect((await runIn('qvm-tags', ['vm0001', 'add', 't'], env)).code).toBe(0);
    expect(await runIn('qvm-service', ['vm0001', 'cups'], env)).toEqual({ code: 0, stdout: 'on\n', stderr: '' });
    expect(await runIn('qubes-prefs', ['default_netvm'], env)).toEqual({ code: 0, stdout: 'sys-firewall\n', stderr: '' });
  });

  test('--offline-mode alone enables offline mode', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['--offline-mode', '-O', 'NAME,STATE'], online(s));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expectOfflineListing(r.stdout);
  });

  test('QUBES_OFFLINE_MODE=1 alone enables offline mode', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['-O', 'NAME,STATE'], online(s, { QUBES_OFFLINE_MODE: '1' }));
    expect(r.code).toBe(0);
    expectOfflineListing(r.stdout);
    // default columns too
    const d = await runIn('qvm-ls', [], online(s, { QUBES_OFFLINE_MODE: '1' }));
    expect(d.stdout.split('\n')[1]).toMatch(/^dom0\s+Running\s+AdminVM\s+black\s+-\s+-$/);
  });

  test('QUBES_OFFLINE_MODE=0 does not enable offline mode', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['-O', 'NAME,STATE'], online(s, { QUBES_OFFLINE_MODE: '0', LIBVIRT_DEFAULT_URI: 'xen:///?socket=/nonexistent/sock' }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^vm0001 +NA$/m);
    expect(r.stderr).toContain('Cannot connect to libvirt at xen:///?socket=/nonexistent/sock');
  });
});
