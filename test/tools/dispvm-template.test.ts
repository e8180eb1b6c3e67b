// Disposable templates (qubes-core-admin qubes/vm/mix/dvmtemplate.py,
// adminvm.py): template_for_dispvms cannot be turned off while the qube is
// in use as a disposable template, and the preload-dispvm* features take
// only the values the reference's core accepts. Refusals change nothing.
import { describe, expect, test } from '@jest/globals';
import { runIn, tmpStore, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

const ok = async (s: TmpStore, cmd: string, ...args: string[]) => expect(await runIn(cmd, args, s.env)).toEqual({ code: 0, stdout: '', stderr: '' });

/** q10 with vm0001 as a disposable template. */
async function store(): Promise<TmpStore> {
  const s = tmpStoreLocalPools('qubes-xml/q10.xml');
  await ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'True');
  return s;
}

async function refused(s: TmpStore, args: string[], users: string): Promise<void> {
  const before = s.read();
  expect(await runIn('qvm-prefs', args, s.env)).toEqual({
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
  ])('%s', async (_what, [cmd, ...args], users) => {
    const s = await store();
    await ok(s, cmd as string, ...args);
    await refused(s, ['vm0001', 'template_for_dispvms', 'False'], users);
    await refused(s, ['vm0001', 'template_for_dispvms', '--default'], users);
  });

  test("a disposable's template; once nothing uses it, it may be turned off", async () => {
    const s = await store();
    await ok(s, 'qvm-create', '--disp', '-t', 'vm0001', 'disp1');
    await ok(s, 'qvm-prefs', 'vm0003', 'default_dispvm', 'vm0001');
    await refused(s, ['vm0001', 'template_for_dispvms', 'no'], 'disp1 (template), vm0003 (default_dispvm)');
    await ok(s, 'qvm-remove', '-f', 'disp1');
    await ok(s, 'qvm-prefs', 'vm0003', 'default_dispvm', '--default');
    await ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'False');
    // a qube whose default_dispvm is only the default does not count
    await ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', 'True');
    await ok(s, 'qvm-prefs', 'vm0001', 'template_for_dispvms', '--default');
  });
});

describe('preload-dispvm* values', () => {
  const failing = async (s: TmpStore, vm: string, f: string, v: string, message: string) => {
    const before = s.read();
    expect(await runIn('qvm-features', [vm, f, v], s.env)).toEqual({ code: 1, stdout: '', stderr: `qvm-features: error: ${message}\n` });
    expect(s.read()).toBe(before);
  };
  const supportPreload = async (s: TmpStore) => {
    await ok(s, 'qvm-features', 'fedora-41', 'qrexec', '1');
    await ok(s, 'qvm-features', 'fedora-41', 'supported-rpc.qubes.WaitForRunningSystem', '1');
    await ok(s, 'qvm-features', 'fedora-41', 'supported-rpc.qubes.WaitForSession', '1');
  };

  test('preload-dispvm-max: digits only, on a qube (or template) with qrexec and the two RPC services', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    await failing(s, 'vm0001', 'preload-dispvm-max', '2', 'Cannot preload disposables of vm0001: it does not support qrexec (feature qrexec)');
    await ok(s, 'qvm-features', 'fedora-41', 'qrexec', '1');
    await failing(
      s,
      'vm0001',
      'preload-dispvm-max',
      '2',
      'Cannot preload disposables of vm0001: it does not offer the RPC service(s) qubes.WaitForRunningSystem, qubes.WaitForSession',
    );
    await supportPreload(s);
    for (const bad of ['abc', '-1', '1.5', ' 2']) await failing(s, 'vm0001', 'preload-dispvm-max', bad, `Invalid preload-dispvm-max value: '${bad}' (a number of disposables, digits only)`);
    await ok(s, 'qvm-features', 'vm0001', 'preload-dispvm-max', '2');
    await ok(s, 'qvm-features', 'vm0001', 'preload-dispvm-max', '');
    // a template is not a disposable template: no rule there
    await ok(s, 'qvm-features', 'fedora-41', 'preload-dispvm-max', 'abc');
  });

  test("dom0's preload-dispvm-max is checked against the global default_dispvm; delay and threshold", async () => {
    const s = await store();
    await ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', 'abc'); // no global default_dispvm: nothing to check against
    await ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', '--unset');
    await ok(s, 'qubes-prefs', 'default_dispvm', 'vm0001');
    await failing(s, 'dom0', 'preload-dispvm-max', '3', 'Cannot preload disposables of vm0001: it does not support qrexec (feature qrexec)');
    await supportPreload(s);
    await failing(s, 'dom0', 'preload-dispvm-max', 'abc', "Invalid preload-dispvm-max value: 'abc' (a number of disposables, digits only)");
    await ok(s, 'qvm-features', 'dom0', 'preload-dispvm-max', '3');
    for (const vm of ['dom0', 'vm0001']) {
      await failing(s, vm, 'preload-dispvm-delay', 'soon', "Invalid preload-dispvm-delay value: 'soon' (a number of seconds)");
      for (const good of ['0', '-5', '2.5', '1e3', '', 'inf']) await ok(s, 'qvm-features', vm, 'preload-dispvm-delay', good);
    }
    await failing(s, 'dom0', 'preload-dispvm-threshold', '1.5', "Invalid preload-dispvm-threshold value: '1.5' (MiB, digits only)");
    await ok(s, 'qvm-features', 'dom0', 'preload-dispvm-threshold', '512');
  });
});
