// A RemoteVM (a qube of another machine, qubes-core-admin qubes/vm/remotevm.py)
// in the store: loaded, kept, listed, its properties shown and set with the
// reference's property set for the class, lifecycle commands refused with one
// line, removal, and the store saved back byte for byte.
import { describe, expect, test } from '@jest/globals';
import { q10WithRemote } from '../conformance-stores.js';
import { runIn } from '../helpers.js';

const UNREACHABLE_URI = 'qemu:///system?socket=/nonexistent/libvirt-sock';

describe('RemoteVM', () => {
  test('is listed as always Running, with its class, label and icon; the store saves back byte for byte', async () => {
    const s = q10WithRemote();
    expect(await runIn('qvm-ls', ['--raw-data', '-O', 'name,state,class,label,icon,flags', 'remote-work', 'vm0001'], s.env)).toEqual({
      code: 0,
      stdout: 'remote-work|Running|RemoteVM|blue|remotevm-blue|-r------\nvm0001|Halted|AppVM|orange|appvm-orange|a-------\n',
      stderr: '',
    });
    const before = s.read();
    expect((await runIn('qvm-features', ['dom0', 'x-roundtrip', '1'], s.env)).code).toBe(0);
    expect((await runIn('qvm-features', ['dom0', 'x-roundtrip', '-D'], s.env)).code).toBe(0);
    expect(s.read()).toBe(before);
  });

  test('Running without asking libvirt, which may be out of reach', async () => {
    const s = q10WithRemote();
    const env: NodeJS.ProcessEnv = { ...s.env, LIBVIRT_DEFAULT_URI: UNREACHABLE_URI };
    delete env.QUBES_OFFLINE_MODE;
    expect(await runIn('qvm-ls', ['--raw-data', '-O', 'name,state', 'remote-work'], env)).toEqual({ code: 0, stdout: 'remote-work|Running\n', stderr: '' });
    expect((await runIn('qvm-check', ['--running', 'remote-work'], env)).code).toBe(0);
  });

  test("qvm-prefs shows exactly the reference's properties of the class", async () => {
    const s = q10WithRemote();
    expect(await runIn('qvm-prefs', ['remote-work'], s.env)).toEqual({
      code: 0,
      stdout: [
        'icon                D  remotevm-blue',
        'include_in_backups  D  False',
        'klass               D  RemoteVM',
        'label               -  blue',
        'name                -  remote-work',
        'qid                 -  14',
        'relayvm             -  vm0001',
        'remote_name         -  work',
        'transport_rpc       -  qubesair.SSHProxy',
        'uuid                -  3d3d9a2a-9142-4f3a-b492-17a80b330513',
        '',
      ].join('\n'),
      stderr: '',
    });
    for (const p of ['netvm', 'template', 'memory', 'xid', 'kernelopts'])
      expect(await runIn('qvm-prefs', ['remote-work', p], s.env)).toEqual({ code: 2, stdout: '', stderr: `qvm-prefs: error: no such property: '${p}'\n` });
  });

  test('setting and resetting relayvm keeps the one relayvm-NAME tag in step; bad values change nothing', async () => {
    const s = q10WithRemote();
    expect(await runIn('qvm-prefs', ['remote-work', 'relayvm', 'vm0002'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-tags', ['remote-work'], s.env)).stdout).toBe('relayvm-vm0002\n');
    expect((await runIn('qvm-prefs', ['remote-work', 'relayvm', '--default'], s.env)).code).toBe(0);
    expect(await runIn('qvm-prefs', ['remote-work', 'relayvm'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-tags', ['remote-work'], s.env)).stdout).toBe('');
    expect((await runIn('qvm-prefs', ['remote-work', 'remote_name', 'other-name'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['remote-work', 'include_in_backups', 'yes'], s.env)).code).toBe(0);
    const before = s.read();
    expect(await runIn('qvm-prefs', ['remote-work', 'relayvm', 'nosuch'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: "qvm-prefs: error: Can't set relayvm to non-existing qube nosuch\n",
    });
    expect((await runIn('qvm-prefs', ['remote-work', 'include_in_backups', 'maybe'], s.env)).code).toBe(1);
    expect(s.read()).toBe(before);
    expect(before).toContain('<property name="include_in_backups">True</property>\n        <property name="label">blue</property>');
  });

  test.each([
    ['qvm-start', 'Starting qube failed: remote-work: Cannot start a RemoteVM (it runs on another machine)'],
    ['qvm-shutdown', 'Failed to shut down remote-work: Cannot shut down a RemoteVM (it runs on another machine)'],
    ['qvm-kill', 'Failed to kill: remote-work: Cannot kill a RemoteVM (it runs on another machine)'],
    ['qvm-pause', 'Failed to pause: remote-work: Cannot pause a RemoteVM (it runs on another machine)'],
    ['qvm-unpause', 'Failed to unpause: remote-work: Cannot unpause a RemoteVM (it runs on another machine)'],
  ])('%s refuses it with one line, offline and online', async (cmd, message) => {
    const s = q10WithRemote();
    const online: NodeJS.ProcessEnv = { ...s.env, LIBVIRT_DEFAULT_URI: UNREACHABLE_URI };
    delete online.QUBES_OFFLINE_MODE;
    for (const env of [s.env, online]) expect(await runIn(cmd, ['remote-work'], env)).toEqual({ code: 1, stdout: '', stderr: `${cmd}: error: ${message}\n` });
  });

  test('qvm-start --skip-if-running passes over it (it always reads as running)', async () => {
    const s = q10WithRemote();
    expect(await runIn('qvm-start', ['--skip-if-running', 'remote-work'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('its relay is in use while it names it; the remote qube itself is removed without a power check', async () => {
    const s = q10WithRemote();
    expect(await runIn('qvm-remove', ['-f', 'vm0001'], s.env)).toEqual({
      code: 1,
      stdout: 'VM vm0001 cannot be removed. It is in use as:\n - relayvm for remote-work\n',
      stderr: "qvm-remove: error: Domain is in use: 'vm0001'\n",
    });
    const online: NodeJS.ProcessEnv = { ...s.env, LIBVIRT_DEFAULT_URI: UNREACHABLE_URI };
    delete online.QUBES_OFFLINE_MODE;
    expect(await runIn('qvm-remove', ['-f', 'remote-work'], online)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).not.toContain('RemoteVM');
  });
});
