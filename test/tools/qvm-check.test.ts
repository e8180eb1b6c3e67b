import { runIn, tmpStore } from '../helpers.js';

describe('qvm-check (offline: every qube but dom0 is halted)', () => {
  const s = tmpStore('qubes-xml/q10.xml');
  const check = async (...args: string[]) => runIn('qvm-check', args, s.env);

  test('existence: 0 when all exist; unknown names reported, status 1', async () => {
    expect(await check('vm0001', 'sys-net')).toEqual({ code: 0, stdout: '', stderr: 'qvm-check: sys-net: exists\nqvm-check: vm0001: exists\n' });
    expect(await check('vm0001', 'nosuch', 'another')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-check: vm0001: exists\nqvm-check: another: non-existent!\nqvm-check: nosuch: non-existent!\n',
    });
    expect(await check('-q', 'nosuch')).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  test('filters are ANDed: 0 all pass, 3 some pass, 1 none', async () => {
    expect(await check('--template', 'fedora-41')).toMatchObject({ code: 0, stderr: 'qvm-check: fedora-41: template\n' });
    expect(await check('--template', 'fedora-41', 'vm0001')).toMatchObject({ code: 3, stderr: 'qvm-check: fedora-41: template\n' });
    expect(await check('--template', 'vm0001')).toMatchObject({ code: 1, stderr: 'qvm-check: None of qubes: template\n' });
    expect(await check('--running', 'vm0001')).toMatchObject({ code: 1, stderr: 'qvm-check: None of qubes: running\n' });
    expect(await check('--running', 'dom0')).toMatchObject({ code: 0, stderr: 'qvm-check: dom0: running\n' });
    expect(await check('--networked', '--running', 'dom0')).toMatchObject({ code: 1, stderr: 'qvm-check: None of qubes: running, networked\n' });
    expect(await check('--networked', 'sys-net', 'vm0001')).toMatchObject({ code: 0 });
  });

  test('--all, wildcards and usage errors', async () => {
    expect((await check('--all', '--template')).code).toBe(3);
    expect((await check('vm000*')).stderr.split('\n').filter(Boolean).length).toBeGreaterThan(3);
    expect(await check()).toEqual({ code: 2, stdout: '', stderr: 'qvm-check: error: one of the arguments VMNAME or --all is required\n' });
  });
});
