// The qube lifecycle through the built commands against the system libvirtd
// with QEMU (TCG): qvm-start (net qube chain, define only at start, QubesDB
// entries, firewall into the net qube), qvm-pause/qvm-unpause, qvm-shutdown
// (dependency refusal, --wait with timeout then kill, volumes committed),
// qvm-kill, disposables removed after they stop, and a missing socket.
// Volumes live on a loop-mounted XFS (file-reflink). The qubes boot nothing:
// they only have to exist as domains.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import type { LoopFs } from '../storage/loopfs.js';
import { systemLibvirtdFor } from './libvirt-daemons.js';
import { LIVE_URI as URI, makeLiveStore, removeLiveStore, type LiveStore } from './live-store.js';

const lacking = await systemLibvirtdFor();

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', URI, ...args], { encoding: 'utf8' });
const domstate = (name: string) => {
  const r = virsh('domstate', name);
  return r.status === 0 ? r.stdout.trim() : 'undefined';
};

describeLacking(lacking, 'qube lifecycle on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, net, work, dvm, tpl2] = ['tpl', 'net', 'work', 'dvm', 'tpl2'].map((n) => `lt${tag}-${n}`) as [string, string, string, string, string];
  let store: LiveStore | undefined;
  let lfs: LoopFs;
  let env: NodeJS.ProcessEnv;
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  const running = () => fs.readdirSync(env.QUBES_RUN_DIR as string);

  beforeAll(() => {
    ({ lfs, env } = (store = makeLiveStore(2048)));
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128'];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', net, '-t', tpl, '-l', 'red', '--prop', 'provides_network=True', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', '--prop', `netvm=${net}`, ...small);
  });

  afterAll(() => removeLiveStore(store, [work, net, dvm, tpl, tpl2]));

  test('qvm-start defines the domain only at start and starts the net qube first', () => {
    expect(domstate(work)).toBe('undefined');
    expect(domstate(net)).toBe('undefined');
    expect(q('qvm-start', work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(domstate(net)).toBe('running');
    expect(domstate(work)).toBe('running');
    expect(ok('qvm-ls', '--raw-data', '-O', 'NAME,STATE', tpl, net, work)).toBe(`${net}|Running\n${tpl}|Halted\n${work}|Running\n`);
    expect(running()).toEqual(expect.arrayContaining([`start-time.${work}`, `volume-running-varlibqubes:appvms-${work.replace(/-/g, '--')}-private`]));
    expect(ok('qvm-prefs', work, 'start_time')).toMatch(/^\d{10}\.\d\d\n$/);
    expect(Number(ok('qvm-prefs', work, 'xid'))).toBeGreaterThan(0);
    expect(q('qvm-start', work)).toMatchObject({ code: 1, stderr: `qvm-start: error: Starting qube failed: ${work}: Domain is already running: '${work}'\n` });
    expect(q('qvm-start', '--skip-if-running', work).code).toBe(0);
  });

  test("the qube's QubesDB has its entries; the net qube's firewall keys follow rule changes", () => {
    expect(ok('qubesdb-read', '-d', work, '/name', '/qubes-vm-type')).toBe(`${work}\nAppVM\n`);
    const ip = ok('qubesdb-read', '-d', work, '/qubes-ip').trim();
    expect(ok('qubesdb-multiread', '-d', net, `/qubes-firewall/${ip}/`)).toBe('0000 = action=accept\npolicy = drop\n');
    ok('qvm-firewall', work, 'add', 'drop', 'dsthost=192.0.2.7');
    expect(ok('qubesdb-multiread', '-d', net, `/qubes-firewall/${ip}/`)).toBe('0000 = action=accept\n0001 = action=drop dst4=192.0.2.7/32\npolicy = drop\n');
  });

  test('pause and unpause', () => {
    ok('qvm-pause', work);
    expect(domstate(work)).toBe('paused');
    expect(q('qvm-check', '--paused', work).code).toBe(0);
    expect(q('qvm-pause', tpl)).toMatchObject({ code: 1, stderr: `qvm-pause: error: Failed to pause: ${tpl}: Domain is not running: '${tpl}'\n` });
    ok('qvm-unpause', work);
    expect(domstate(work)).toBe('running');
    expect(q('qvm-unpause', work)).toMatchObject({ code: 1, stderr: `qvm-unpause: error: Failed to unpause: ${work}: Domain is not paused: '${work}'\n` });
  });

  test('a net qube with a running client refuses to shut down', () => {
    expect(q('qvm-shutdown', net)).toMatchObject({ code: 1, stderr: `qvm-shutdown: error: Failed to shut down ${net}: There are other VMs connected to this VM: ${work}\n` });
    expect(domstate(net)).toBe('running');
  });

  test('shutdown --wait kills a qube that does not stop in time and commits its volumes', () => {
    // nothing boots in these qubes, so nothing reacts to the shutdown request
    const t0 = Date.now();
    expect(q('qvm-shutdown', '--wait', '--timeout', '2', work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(domstate(work)).toBe('shut off');
    const dir = path.join(lfs.dir, 'appvms', work);
    expect(fs.readdirSync(dir).filter((f) => f.includes('dirty'))).toEqual([]);
    expect(fs.readdirSync(dir).some((f) => /^private\.img\.1@/.test(f))).toBe(true);
    expect(running().filter((f) => f.includes(work.replace(/-/g, '--')) || f.includes(`.${work}`))).toEqual([]);
    expect(q('qubesdb-read', '-d', work, '/name').code).not.toBe(0);
  });

  test('qvm-kill stops at once; a halted qube is not an error', () => {
    expect(q('qvm-kill', net)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(domstate(net)).toBe('shut off');
    expect(q('qvm-kill', net)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(ok('qvm-ls', '--raw-data', '-O', 'NAME,STATE', net)).toBe(`${net}|Halted\n`);
  });

  test('a disposable with auto_cleanup is removed with its domain once it stops', () => {
    ok('qvm-create', dvm, '-t', tpl, '-l', 'red', '--prop', 'template_for_dispvms=True', '--prop', 'memory=128', '--prop', 'maxmem=128');
    ok('qvm-create', '--disp', '-t', dvm, '--prop', 'auto_cleanup=True', '--prop', 'netvm=');
    const disp = /<property name="name">(disp\d+)<\/property>/.exec(fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8'))?.[1] as string;
    ok('qvm-start', disp);
    expect(domstate(disp)).toBe('running');
    // templates do not change under running qubes (issue 14; the reference's disposable-template guards)
    ok('qvm-create', '-C', 'TemplateVM', tpl2, '-l', 'black', '--prop', 'memory=128', '--prop', 'maxmem=128');
    const before = fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8');
    expect(q('qvm-prefs', dvm, 'template', tpl2)).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-prefs: error: Cannot change template while there are running disposables based on this disposable template: ${disp}\n`,
    });
    expect(q('qvm-prefs', disp, 'template', dvm)).toEqual({ code: 1, stdout: '', stderr: 'qvm-prefs: error: Cannot change template while qube is running\n' });
    expect(fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8')).toBe(before);
    ok('qvm-kill', disp);
    expect(q('qvm-check', disp).code).toBe(1);
    expect(domstate(disp)).toBe('undefined');
    expect(fs.existsSync(path.join(lfs.dir, 'appvms', disp))).toBe(false);
    ok('qvm-prefs', dvm, 'template', tpl2);
    expect(ok('qvm-prefs', dvm, 'template')).toBe(`${tpl2}\n`);
  });

  test('with libvirt unreachable, store-only commands work and qvm-start names libvirt and the URI', () => {
    const bad = `${URI}?socket=/nonexistent/libvirt-sock`;
    const r = run('qvm-start', [work], { ...env, LIBVIRT_DEFAULT_URI: bad });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qvm-start: error: Starting qube failed: .*libvirt.*qemu:\/\/\/system/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(run('qvm-prefs', [work, 'memory'], { ...env, LIBVIRT_DEFAULT_URI: bad })).toEqual({ code: 0, stdout: '128\n', stderr: '' });
    expect(run('qvm-tags', [work, 'add', 'x'], { ...env, LIBVIRT_DEFAULT_URI: bad }).code).toBe(0);
    expect(domstate(work)).toBe('shut off');
  });

  test('qvm-remove forgets the domain', () => {
    ok('qvm-remove', '-f', work);
    expect(domstate(work)).toBe('undefined');
    execFileSync('true');
  });
});
