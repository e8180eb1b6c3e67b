// SPDX-License-Identifier: GPL-2.0-or-later
// The autostart property enables and disables the qube's qubes-vm@ unit
// (issue 13 item 6): the exact systemctl command, recorded by a systemctl
// of the test first on PATH; a failing systemctl refuses the change and
// leaves qubes.xml as it was; a qube created or removed with autostart
// enables or disables its unit; the unit itself runs qvm-start for the
// instance.
import fs from 'node:fs';
import path from 'node:path';
import { autostartCommand } from '../../lib/ops/autostart.js';
import { ROOT, run, runIn, tmpDir, tmpStore, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

/** A systemctl (and sudo, for a run without root) that record their arguments and exit with $FAKE_SYSTEMCTL_EXIT. */
function recordingBin(): { env: (s: TmpStore, exit?: number) => NodeJS.ProcessEnv; calls: () => string[] } {
  const dir = tmpDir('fake-systemctl-');
  const log = path.join(dir, 'calls');
  fs.writeFileSync(path.join(dir, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> '${log}'\nexit \${FAKE_SYSTEMCTL_EXIT:-0}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
  return {
    env: (s, exit = 0) => ({ ...s.env, PATH: `${dir}:${process.env.PATH}`, FAKE_SYSTEMCTL_EXIT: String(exit) }),
    calls: () => {
      const out = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      fs.rmSync(log, { force: true });
      return out;
    },
  };
}

test('the command: systemctl enable or disable qubes-vm@NAME.service', () => {
  expect(autostartCommand('work', true)).toEqual(['systemctl', 'enable', 'qubes-vm@work.service']);
  expect(autostartCommand('work', false)).toEqual(['systemctl', 'disable', 'qubes-vm@work.service']);
});

describe('qvm-prefs QUBE autostart', () => {
  const bin = recordingBin();
  let s: TmpStore;
  beforeAll(() => {
    s = tmpStoreLocalPools('qubes-xml/q10.xml');
  });

  test('set True enables the unit, False disables it, a reset of True disables it, a reset of the default does nothing', async () => {
    expect(await runIn('qvm-prefs', ['vm0001', 'autostart', 'True'], bin.env(s))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(bin.calls()).toEqual(['systemctl enable qubes-vm@vm0001.service']);
    expect((await runIn('qvm-prefs', ['vm0001', 'autostart'], bin.env(s))).stdout).toBe('True\n');
    expect(await runIn('qvm-prefs', ['--default', 'vm0001', 'autostart'], bin.env(s))).toMatchObject({ code: 0 });
    expect(bin.calls()).toEqual(['systemctl disable qubes-vm@vm0001.service']);
    expect(await runIn('qvm-prefs', ['--default', 'vm0001', 'autostart'], bin.env(s))).toMatchObject({ code: 0 });
    expect(bin.calls()).toEqual([]);
    expect(await runIn('qvm-prefs', ['vm0001', 'autostart', 'False'], bin.env(s))).toMatchObject({ code: 0 });
    expect(bin.calls()).toEqual(['systemctl disable qubes-vm@vm0001.service']);
    // other properties run nothing
    expect(await runIn('qvm-prefs', ['vm0001', 'memory', '500'], bin.env(s))).toMatchObject({ code: 0 });
    expect(bin.calls()).toEqual([]);
  });

  test('a failing systemctl refuses the change in the reference words; qubes.xml is unchanged', async () => {
    const before = s.read();
    expect(await runIn('qvm-prefs', ['vm0001', 'autostart', 'True'], bin.env(s, 1))).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-prefs: error: Failed to set autostart for VM in systemd\n',
    });
    expect(bin.calls()).toEqual(['systemctl enable qubes-vm@vm0001.service']);
    expect(s.read()).toBe(before);
  });

  test('a qube created with autostart has its unit enabled, and disabled when it is removed', async () => {
    expect(await runIn('qvm-create', ['auto1', '-t', 'fedora-41', '-l', 'red', '--prop', 'autostart=True'], bin.env(s))).toMatchObject({ code: 0, stderr: '' });
    expect(bin.calls()).toEqual(['systemctl enable qubes-vm@auto1.service']);
    expect(await runIn('qvm-remove', ['-f', 'auto1'], bin.env(s))).toMatchObject({ code: 0, stderr: '' });
    expect(bin.calls()).toEqual(['systemctl disable qubes-vm@auto1.service']);
    // without autostart: nothing
    expect(await runIn('qvm-create', ['plain1', '-t', 'fedora-41', '-l', 'red'], bin.env(s))).toMatchObject({ code: 0 });
    expect(await runIn('qvm-remove', ['-f', 'plain1'], bin.env(s))).toMatchObject({ code: 0 });
    expect(bin.calls()).toEqual([]);
  });
});

test('the unit of an autostarting qube starts it, skipping a qube that runs already', () => {
  const unit = fs.readFileSync(path.join(ROOT, 'contrib', 'systemd', 'qubes-vm@.service'), 'utf8');
  expect(unit).toMatch(/^ExecStart=\/usr\/bin\/qvm-start --skip-if-running -- %i$/m);
  expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
});

test("the unit's ExecStart, run with the built qvm-start for an instance, is accepted and skips a running qube", () => {
  const unit = fs.readFileSync(path.join(ROOT, 'contrib', 'systemd', 'qubes-vm@.service'), 'utf8');
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
  const [exe, ...args] = line.split(/ +/);
  expect(exe).toBe('/usr/bin/qvm-start');
  const s = tmpStore('qubes-xml/q10.xml');
  try {
    const start = (name: string) => run('qvm-start', args.map((a) => a.replaceAll('%i', name)), s.env);
    // offline only dom0 runs: the unit's start of a running qube succeeds doing nothing
    expect(start('dom0')).toEqual({ code: 0, stdout: '', stderr: '' });
    // a halted qube is started (here: fails at its missing image, a runtime error, not a usage one)
    const r = start('vm0001');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qvm-start: error: Starting qube failed: vm0001: /);
  } finally {
    s.remove();
  }
});
