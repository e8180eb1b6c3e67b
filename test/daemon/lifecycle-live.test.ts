// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starting and stopping qubes through the daemon, on the system libvirtd
 * with QEMU as the lifecycle tests: Qubes' own qvm-start, qvm-check,
 * qvm-pause, qvm-unpause, qvm-shutdown and qvm-kill against our qubesd,
 * with the same exit codes and answers as our commands on the same store;
 * the console's pty; the stats stream of a running qube; and the refusals
 * under the reference's class names.
 * The qubes boot nothing: they only have to exist as domains.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run } from '../helpers.js';
import { ensureSystemLibvirtd } from '../vmm/libvirt-daemons.js';
import { LIVE_URI, makeLiveStore, removeLiveStore, type LiveStore } from '../vmm/live-store.js';
import { clientMissing, referenceTool, shown, startDaemonOnLiveStore, stopDaemonOnLiveStore, subscribe, type Daemon, type StreamEvent } from './daemon-env.js';

const why = (await ensureSystemLibvirtd()) ?? (clientMissing().length ? `missing ${clientMissing().join(', ')}` : undefined);
if (why) console.warn(`qubesd lifecycle tests skipped: ${why}`);

const domstate = (name: string) => {
  const r = spawnSync('virsh', ['-c', LIVE_URI, 'domstate', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'undefined';
};

(why ? describe.skip : describe)('qube lifecycle through qubesd on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, work] = ['tpl', 'work'].map((n) => `dl${tag}-${n}`) as [string, string];
  let store: LiveStore | undefined;
  let d: Daemon;
  const ours = (cmd: string, ...args: string[]) => run(cmd, args, store?.env as NodeJS.ProcessEnv);
  const theirs = (tool: string, ...args: string[]) => referenceTool(d, tool, args);
  const ok = (cmd: string, ...args: string[]) => {
    const r = ours(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
  };

  beforeAll(async () => {
    store = makeLiveStore(1024);
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128'];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', '--prop', 'netvm=', ...small);
    d = await startDaemonOnLiveStore(store);
  }, 60000);

  afterAll(async () => {
    const code = await stopDaemonOnLiveStore(d, store);
    if (d) expect(code).toBe(0);
    removeLiveStore(store, [work, tpl]);
  });

  /** Qubes' qvm-check and ours agree on a question about `work`. */
  const check = (flag: string, expected: number) => {
    const a = ours('qvm-check', flag, work);
    const b = theirs('qvm-check', flag, work);
    expect([a.code, b.code, b.stdout]).toEqual([expected, expected, a.stdout]);
  };

  test('qvm-start, qvm-pause, qvm-unpause, qvm-shutdown, qvm-kill; qvm-check agrees at each step', () => {
    check('--running', 1);
    expect(theirs('qvm-start', work)).toMatchObject({ code: 0, stderr: '' });
    expect(domstate(work)).toBe('running');
    check('--running', 0);
    // a second start is refused by both, exit code 1
    expect([theirs('qvm-start', work).code, ours('qvm-start', work).code]).toEqual([1, 1]);

    expect(theirs('qvm-pause', work)).toMatchObject({ code: 0, stderr: '' });
    expect(domstate(work)).toBe('paused');
    check('--paused', 0);
    expect(theirs('qvm-unpause', work)).toMatchObject({ code: 0, stderr: '' });
    expect(domstate(work)).toBe('running');
    expect([theirs('qvm-unpause', work).code, ours('qvm-unpause', work).code]).toEqual([1, 1]);

    // nothing boots inside, so nothing answers the shutdown request: kill
    expect(theirs('qvm-shutdown', work)).toMatchObject({ code: 0, stderr: '' });
    expect(theirs('qvm-kill', work)).toMatchObject({ code: 0, stderr: '' });
    expect(domstate(work)).toBe('shut off');
    check('--running', 1);
  }, 120000);

  test('the console pty of a running qube; refusals under the reference names', async () => {
    expect(shown(await d.call('admin.vm.Console', work))).toBe(`2\\0QubesVMNotRunningError\\0\\0Domain not running (either powered off or paused): '${work}'\\0`);
    expect(shown(await d.call('admin.vm.Start', work))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.Console', work))).toMatch(/^0\\0\/dev\/pts\/\d+$/);
    // as the reference: a start of a qube that runs does nothing
    expect(shown(await d.call('admin.vm.Start', work))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.Shutdown', work, 'now'))).toBe('2\\0ProtocolError\\0\\0Argument must match: force, wait\\0');
    expect(shown(await d.call('admin.vm.Suspend', work))).toBe('0\\0');
    expect(domstate(work)).toBe('paused');
    expect(shown(await d.call('admin.vm.Resume', work))).toBe('0\\0');
    expect(domstate(work)).toBe('running');
    // asked to shut down (nothing inside answers), then killed
    expect(shown(await d.call('admin.vm.Shutdown', work, 'force'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.Kill', work))).toBe('0\\0');
    expect(domstate(work)).toBe('shut off');
    expect(shown(await d.call('admin.vm.Kill', work))).toBe(`2\\0QubesVMNotStartedError\\0\\0Domain is powered off: '${work}'\\0`);
    expect(shown(await d.call('admin.vm.Pause', work))).toBe(`2\\0QubesVMNotRunningError\\0\\0Domain is not running: '${work}'\\0`);
    expect(shown(await d.call('admin.vm.Unpause', work))).toBe(`2\\0QubesVMNotPausedError\\0\\0Domain is not paused: '${work}'\\0`);
    for (const [m, cls, what] of [
      ['admin.vm.Start', 'QubesVMNotHaltedError', 'start'],
      ['admin.vm.Shutdown', 'QubesVMError', 'shutdown'],
      ['admin.vm.Kill', 'QubesVMError', 'kill'],
      ['admin.vm.Suspend', 'QubesVMError', 'suspend'],
    ])
      expect(shown(await d.call(m as string, 'dom0'))).toBe(`2\\0${cls}\\0\\0Cannot ${what} Dom0 fake domain!\\0`);
  }, 120000);

  test('admin.vm.Stats: vm-stats events with the reference fields for a running qube, every stats_interval; not running ends the stream', async () => {
    ok('qubes-prefs', 'stats_interval', '1');
    const notRunning = `2\\0QubesVMNotRunningError\\0\\0Domain not running (either powered off or paused): '${work}'\\0`;
    const halted = await subscribe(d, work, 'admin.vm.Stats');
    await halted.waitFor(() => halted.error() !== undefined);
    expect([halted.events.map((e) => e.event), halted.error()]).toEqual([['connection-established'], notRunning]);

    ok('qvm-start', work);
    const all = await subscribe(d, 'dom0', 'admin.vm.Stats');
    const one = await subscribe(d, work, 'admin.vm.Stats');
    const stats = (e: StreamEvent[]) => e.filter((x) => x.event === 'vm-stats');
    await all.waitFor((e) => stats(e).length >= 2, 15000);
    await one.waitFor((e) => stats(e).length >= 2, 15000);
    // only qubes of the store are reported (other domains of this libvirtd are not), dom0 is no domain under QEMU
    expect(new Set(stats(all.events).map((e) => e.subject))).toEqual(new Set([work]));
    expect(stats(one.events).every((e) => e.subject === work)).toBe(true);
    const [first, second] = stats(one.events) as [StreamEvent, StreamEvent];
    expect(Object.keys(first.fields)).toEqual(['memory_kb', 'memory_assigned_total', 'memory_assigned_usable', 'memory_with_swap_used', 'cpu_time', 'cpu_usage', 'online_vcpus']);
    const n = (e: StreamEvent, k: string) => Number(e.fields[k]);
    // memory=128 and maxmem=128 MiB; the vCPUs of the qube
    expect([n(first, 'memory_assigned_total'), n(first, 'memory_kb')]).toEqual([131072, 131072]);
    expect(n(first, 'memory_assigned_usable')).toBe(n(first, 'memory_kb'));
    expect(n(first, 'memory_with_swap_used')).toBe(n(first, 'memory_kb'));
    expect(n(first, 'online_vcpus')).toBe(Number(ours('qvm-prefs', work, 'vcpus').stdout));
    // CPU time in ms grows; usage is 0 at the first round, a percentage after
    expect(n(second, 'cpu_time')).toBeGreaterThanOrEqual(n(first, 'cpu_time'));
    expect(n(first, 'cpu_usage')).toBe(0);
    expect(n(second, 'cpu_usage')).toBeGreaterThanOrEqual(0);
    expect(n(second, 'cpu_usage')).toBeLessThanOrEqual(100);
    all.close();

    ok('qvm-kill', work);
    await one.waitFor(() => one.error() !== undefined, 10000);
    expect(one.error()).toBe(notRunning);
  }, 120000);
});
