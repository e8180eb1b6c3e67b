// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The daemon as a process: its sockets (mode, a stale one replaced, a live
 * one left alone), SIGTERM with a request in flight, --debug tracebacks,
 * and qubesd-query's options against it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { lockStore } from '../../lib/app/store-lock.js';
import { ROOT, run, tmpStore } from '../helpers.js';
import { rawRequest, request, shown, startDaemon } from './daemon-env.js';

const SOCKETS = ['qubesd.sock', 'qubesd.internal.sock', 'qubesd.misc.sock'];

test('three sockets, mode 0770 (umask 007); a stale socket is replaced; a live one stops a second daemon', async () => {
  const store = tmpStore('qubes-xml/q10.xml');
  // a socket left by a process that is gone: bound, nobody listening
  const bound = spawnSync('/usr/bin/python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path.join(store.dir, 'qubesd.sock')]);
  expect([bound.status, fs.statSync(path.join(store.dir, 'qubesd.sock')).isSocket()]).toEqual([0, true]);
  const d = await startDaemon('qubes-xml/q10.xml', { store });
  try {
    for (const s of SOCKETS) {
      const st = fs.statSync(path.join(store.dir, s));
      expect([s, st.isSocket(), st.mode & 0o777]).toEqual([s, true, 0o770]);
    }
    expect(shown(await d.call('admin.vmclass.List'))).toBe('0\\0AdminVM\\nAppVM\\nDispVM\\nRemoteVM\\nStandaloneVM\\nTemplateVM\\n'.replace(/\\n/g, '\n'));
    // the internal and misc sockets answer with their own tables (neither has this method)
    expect(shown(await rawRequest(path.join(store.dir, 'qubesd.internal.sock'), request('internal.GetSystemInfo', 'dom0')))).toBe(
      "2\\0ProtocolError\\0\\0no such method: 'internal.GetSystemInfo'\\0",
    );
    const second = run('qubesd', [], store.env);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`qubesd: error: socket already exists: '${path.join(store.dir, 'qubesd.sock')}' (another qubesd answers on it)\n`);
    // the first one is untouched
    expect(shown(await d.call('admin.label.Index', 'dom0', 'red'))).toBe('0\\01');
  } finally {
    expect(await d.stop()).toBe(0);
  }
  for (const s of SOCKETS) expect(fs.existsSync(path.join(store.dir, s))).toBe(false);
  fs.rmSync(store.dir, { recursive: true, force: true });
});

test('SIGTERM finishes the request in flight, refuses new ones, exits 0', async () => {
  const d = await startDaemon('qubes-xml/q10.xml');
  const release = await lockStore(d.store.xml, 10000); // the write below waits for this lock
  try {
    const inFlight = d.call('admin.vm.feature.Set', 'vm0001', 'late', 'yes');
    await new Promise((r) => setTimeout(r, 300));
    d.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(d.socket)).toBe(false);
    await release();
    expect(shown(await inFlight)).toBe('0\\0');
    expect(await d.stop()).toBe(0);
    expect(d.store.read()).toContain('<feature name="late">yes</feature>');
  } finally {
    fs.rmSync(d.store.dir, { recursive: true, force: true });
  }
});

test('--debug sends the stack of an error in its reply (framing.test.ts: empty without)', async () => {
  const d = await startDaemon('qubes-xml/q10.xml', { args: ['--debug'] });
  try {
    const reply = (await d.call('admin.vm.property.Get', 'vm0001', 'nosuch')).toString('utf8').split('\0');
    expect(reply[0]).toBe('2');
    expect(reply[1]).toBe('QubesNoSuchPropertyError');
    expect(reply[2]).toMatch(/^QubesNoSuchPropertyError: Invalid property 'nosuch' of vm0001\n\s+at /);
    expect(reply[3]).toBe("Invalid property 'nosuch' of vm0001");
  } finally {
    await d.stop();
    fs.rmSync(d.store.dir, { recursive: true, force: true });
  }
});

describe('qubesd-query', () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    d = await startDaemon('qubes-xml/q10.xml');
  });
  afterAll(async () => {
    await d.stop();
    fs.rmSync(d.store.dir, { recursive: true, force: true });
  });
  const query = (args: string[], input = '') =>
    spawnSync(path.join(ROOT, 'bin', 'qubesd-query'), args, { env: d.store.env, input, encoding: 'latin1' });

  test('copies the reply with its header; exit 0, or the reply type with --fail; --null', () => {
    expect(query(['-e', 'dom0', 'admin.label.Get', 'dom0', 'red'])).toMatchObject({ status: 0, stdout: '0\x000xcc0000' });
    expect(query(['-e', '--null', 'dom0', 'admin.label.Get', 'dom0', 'red'])).toMatchObject({ status: 0, stdout: '0\x000xcc0000\x00' });
    expect(query(['-e', '--fail', 'dom0', 'admin.label.Get', 'dom0', 'nosuch'])).toMatchObject({
      status: 2,
      stdout: '2\x00QubesLabelNotFoundError\x00\x00Label does not exist: nosuch\x00',
    });
    expect(query(['-e', 'dom0', 'admin.label.Get', 'dom0', 'nosuch']).status).toBe(0);
    // a dropped request: no reply, not a digit
    expect(query(['-e', '--fail', 'dom0', 'admin.vm.List', 'dom0', 'x y'])).toMatchObject({ status: 1, stdout: '' });
  });

  test('payload from standard input, --single-line, --max-bytes', () => {
    expect(query(['dom0', 'admin.vm.feature.Set', 'vm0001', 'q1'], 'value one').status).toBe(0);
    expect(query(['-e', 'dom0', 'admin.vm.feature.Get', 'vm0001', 'q1']).stdout).toBe('0\x00value one');
    expect(query(['--single-line', 'dom0', 'admin.vm.feature.Set', 'vm0001', 'q2'], 'line\nrest').status).toBe(0);
    expect(query(['-e', 'dom0', 'admin.vm.feature.Get', 'vm0001', 'q2']).stdout).toBe('0\x00line');
    expect(query(['--single-line', 'dom0', 'admin.vm.feature.Set', 'vm0001', 'q3'], 'no newline')).toMatchObject({
      status: 2,
      stderr: 'qubesd-query: error: End of input without a newline\n',
    });
    expect(query(['--single-line', 'dom0', 'admin.vm.feature.Set', 'vm0001', 'q3'], 'tab\there\n')).toMatchObject({
      status: 2,
      stderr: 'qubesd-query: error: Invalid byte 9 in input\n',
    });
    expect(query(['--max-bytes', '3', 'dom0', 'admin.vm.feature.Set', 'vm0001', 'q3'], 'four')).toMatchObject({
      status: 2,
      stderr: 'qubesd-query: error: Payload too long (max 3)\n',
    });
    expect(query(['--max-bytes', '70000', 'dom0', 'admin.vm.feature.Set', 'vm0001', 'q3'], 'x')).toMatchObject({
      status: 2,
      stderr: 'qubesd-query: error: Maximum payload too large (max 65536)\n',
    });
    expect(d.store.read()).not.toContain('"q3"');
  });

  test('no daemon: one error line, exit 1', () => {
    const r = query(['-c', path.join(d.store.dir, 'nothing.sock'), '-e', 'dom0', 'admin.vm.List', 'dom0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^qubesd-query: error: cannot talk to qubesd at .*nothing\.sock: .*\n$/);
  });
});
