// Disposable templates (qubes-core-admin qubes/vm/mix/dvmtemplate.py,
// adminvm.py): template_for_dispvms cannot be turned off while the qube is
// in use as a disposable template, and the preload-dispvm* features take
// only the values the reference's core accepts. Refusals change nothing.
import { describe, expect, test } from '@jest/globals';
import { run, tmpStore, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

const ok = (s: TmpStore, cmd: string, ...args: string[]) => expect(run(cmd, args, s.env)).toEqual({ code: 0, stdout: '', stderr: '' });

/** q10 with vm0001 as a disposable template. */
function store(): TmpStore {
  const s = tmpStoreLocalPools('qubes-xml/q10.xml');
  ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'True');
  return s;
}

function refused(s: TmpStore, args: string[], users: string): void {
  const before = s.read();
  expect(run('qvm-prefs', args, s.env)).toEqual({
    code: 1,
    stdout: '',
    stderr: `qvm-prefs: error: template_for_dispvms of vm0001 cannot be turned off while it is used as a disposable template by: ${users}\n`,
  });
  expect(s.read()).toBe(before);
}

describe('template_for_dispvms cannot be turned off while in use', () => {
  test.each([
    ['the global default_dispvm', ['qubes-prefs', 'default_dispvm', 'vm0001'], 'global default_dispvm'],
    ['the global management_dispvm', ['qubes-prefs', 'management_dispvm', 'vm0001'], 'global management_dispvm'],
    ["a qube's own default_dispvm", ['qvm-prefs', 'vm0002', 'default_dispvm', 'vm0001'], 'vm0002 (default_dispvm)'],
    ["a qube's own management_dispvm", ['qvm-prefs', 'vm0002', 'management_dispvm', 'vm0001'], 'vm0002 (management_dispvm)'],
  ])('%s', (_what, [cmd, ...args], users) => {
    const s = store();
    ok(s, cmd as string, ...args);
    refused(s, ['vm0001', 'template_for_dispvms', 'False'], users);
    refused(s, ['vm0001', 'template_for_dispvms', '--default'], users);
  });

  test("a disposable's template; once nothing uses it, it may be turned off", () => {
    const s = store();
    ok(s, 'qvm-create', '--disp', '-t', 'vm0001', 'disp1');
    ok(s, 'qvm-prefs', 'vm0003', 'default_dispvm', 'vm0001');
    refused(s, ['vm0001', 'template_for_dispvms', 'no'], 'disp1 (template), vm0003 (default_dispvm)');
    ok(s, 'qvm-remove', '-f', 'disp1');
    ok(s, 'qvm-prefs', 'vm0003', 'default_dispvm', '--default');
    ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'False');
    // a qube whose default_dispvm is only the default does not count
    ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'True');
    ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', '--default');
  });
});

describe('preload-dispvm* values', () => {
  const failing = (s: TmpStore, vm: string, f: string, v: string, message: string) => {
    const before = s.read();
    expect(run('qvm-features', [vm, f, v], s.env)).toEqual({ code: 1, stdout: '', stderr: `qvm-features: error: ${message}\n` });
    expect(s.read()).toBe(before);
  };
  const supportPreload = (s: TmpStore) => {
    ok(s, 'qvm-features', 'fedora-41', 'qrexec', '1');
    ok(s, 'qvm-features', 'fedora-41', 'supported-rpc.qubes.WaitForRunningSystem', '1');
    ok(s, 'qvm-features', 'fedora-41', 'supported-rpc.qubes.WaitForSession', '1');
  };

  test('preload-dispvm-max: digits only, on a qube (or template) with qrexec and the two RPC services', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    failing(s, 'vm0001', 'preload-dispvm-max', '2', 'Cannot preload disposables of vm0001: it does not support qrexec (feature qrexec)');
    ok(s, 'qvm-features', 'fedora-41', 'qrexec', '1');
    failing(
      s,
      'vm0001',
      'preload-dispvm-max',
      '2',
      'Cannot preload disposables of vm0001: it does not offer the RPC service(s) qubes.WaitForRunningSystem, qubes.WaitForSession',
    );
    supportPreload(s);
    for (const bad of ['abc', '-1', '1.5', ' 2']) failing(s, 'vm0001', 'preload-dispvm-max', bad, `Invalid preload-dispvm-max value: '${bad}' (a number of disposables, digits only)`);
    ok(s, 'qvm-features', 'vm0001', 'preload-dispvm-max', '2');
    ok(s, 'qvm-features', 'vm0001', 'preload-dispvm-max', '');
    // a template is not a disposable template: no rule there
    ok(s, 'qvm-features', 'fedora-41', 'preload-dispvm-max', 'abc');
  });

  test("dom0's preload-dispvm-max is checked against the global default_dispvm; delay and threshold", () => {
    const s = store();
    ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', 'abc'); // no global default_dispvm: nothing to check against
    ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', '--unset');
    ok(s, 'qubes-prefs', 'default_dispvm', 'vm0001');
    failing(s, 'dom0', 'preload-dispvm-max', '3', 'Cannot preload disposables of vm0001: it does not support qrexec (feature qrexec)');
    supportPreload(s);
    failing(s, 'dom0', 'preload-dispvm-max', 'abc', "Invalid preload-dispvm-max value: 'abc' (a number of disposables, digits only)");
    ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', '3');
    for (const vm of ['dom0', 'vm0001']) {
      failing(s, vm, 'preload-dispvm-delay', 'soon', "Invalid preload-dispvm-delay value: 'soon' (a number of seconds)");
      for (const good of ['0', '-5', '2.5', '1e3', '', 'inf']) ok(s, 'qvm-features', vm, 'preload-dispvm-delay', good);
    }
    failing(s, 'dom0', 'preload-dispvm-threshold', '1.5', "Invalid preload-dispvm-threshold value: '1.5' (MiB, digits only)");
    ok(s, 'qvm-features', 'dom0', 'preload-dispvm-threshold', '512');
  });
});
