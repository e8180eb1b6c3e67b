// The commands online with libvirt out of reach (no daemon needed): the
// store-only ones never connect; qvm-ls connects only for runtime columns
// and filters, lists NA states when it cannot (exit 1, one warning), and
// refuses state filters it cannot answer. The error names libvirt and the URI.
import { describe, expect, test } from '@jest/globals';
import { run, tmpStore } from '../helpers.js';

const URI = 'qemu:///system?socket=/nonexistent/libvirt-sock';
const UNREACHABLE = `Cannot connect to libvirt at ${URI}: /nonexistent/libvirt-sock does not exist (is libvirtd running?)`;

function online(): { env: NodeJS.ProcessEnv; read: () => string } {
  const s = tmpStore('qubes-xml/q10.xml');
  const env: NodeJS.ProcessEnv = { ...s.env, LIBVIRT_DEFAULT_URI: URI };
  delete env.QUBES_OFFLINE_MODE;
  return { env, read: s.read };
}

describe('libvirt unreachable', () => {
  test('qvm-prefs, qvm-features, qvm-tags and qvm-service never connect', () => {
    const { env, read } = online();
    expect(run('qvm-prefs', ['vm0001', 'vcpus', '3'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run('qvm-prefs', ['vm0001', 'vcpus'], env)).toEqual({ code: 0, stdout: '3\n', stderr: '' });
    expect(run('qvm-features', ['vm0001', 'x', 'y'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run('qvm-tags', ['vm0001', 'add', 'blue'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run('qvm-service', ['vm0001', 'cups', 'off'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(read()).toContain('<feature name="x">y</feature>');
  });

  test('qvm-ls: states as NA, one warning, exit 1; columns without runtime state do not connect', () => {
    const { env } = online();
    const r = run('qvm-ls', ['--raw-data', '-O', 'name,state,xid,class'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`qvm-ls: warning: ${UNREACHABLE}; power states are shown as NA\n`);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['dom0|Running|0|AdminVM', 'fedora-41|NA|-|TemplateVM', 'sys-firewall|NA|-|AppVM']);
    expect(run('qvm-ls', ['--raw-list'], env)).toMatchObject({ code: 0, stderr: '' });
    expect(run('qvm-ls', ['-O', 'name,label,netvm', '--class', 'AppVM'], env)).toMatchObject({ code: 0, stderr: '' });
    expect(run('qvm-ls', ['-q', '-O', 'name,state'], env)).toMatchObject({ code: 1, stderr: '' });
  });

  test('qvm-ls: a filter on the power state cannot be answered: an error, nothing listed', () => {
    const { env } = online();
    for (const args of [['--running'], ['--halted', '--raw-list'], ['--prefs', 'xid=-1']])
      expect(run('qvm-ls', args, env)).toEqual({ code: 1, stdout: '', stderr: `qvm-ls: error: ${UNREACHABLE}\n` });
  });

  test('a URI this client cannot use is one clear error', () => {
    const { env } = online();
    const r = run('qvm-ls', ['--running'], { ...env, LIBVIRT_DEFAULT_URI: 'qemu+ssh://host/system' });
    expect(r).toEqual({ code: 1, stdout: '', stderr: "qvm-ls: error: Unsupported libvirt URI 'qemu+ssh://host/system': only local UNIX socket connections are supported\n" });
  });
});
