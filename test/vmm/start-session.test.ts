// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What one qvm-start shares between its steps, counted through its Session
 * (the command run in memory against the system libvirtd with QEMU): the
 * store is parsed once, the hypervisor is asked once for the state of every
 * domain, and one PoolSet serves the checks, the volumes and the domain XML,
 * also when the net qube is started first (its domain id is known from its
 * own start, not from listing every domain again). The reference's qubesd
 * keeps one loaded app for all of it.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { Session, SessionCounts } from '../../lib/ops/session.js';
import { runInMemory } from '../../lib/tools/common/in-memory.js';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { systemLibvirtdFor } from './libvirt-daemons.js';
import { LIVE_URI, makeLiveStore, removeLiveStore, type LiveStore } from './live-store.js';

const lacking = await systemLibvirtdFor();

const domstate = (name: string) => {
  const r = spawnSync('virsh', ['-c', LIVE_URI, 'domstate', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'undefined';
};

describeLacking(lacking, 'one qvm-start: one load, one hypervisor refresh, one PoolSet', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, net, work] = ['tpl', 'net', 'work'].map((n) => `ss${tag}-${n}`) as [string, string, string];
  let store: LiveStore | undefined;
  let env: NodeJS.ProcessEnv;
  const ok = (cmd: string, ...args: string[]) => {
    const r = run(cmd, args, env);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
  };

  /** qvm-start in memory, with what its session counted. */
  async function start(...args: string[]) {
    let session: Session | undefined;
    const r = await runInMemory('qvm-start', args, { env, onSession: (s) => (session = s) });
    return { code: r.code, stderr: r.stderr, counts: session?.counts as SessionCounts };
  }

  beforeAll(() => {
    ({ env } = store = makeLiveStore(1024));
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128'];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', net, '-t', tpl, '-l', 'red', '--prop', 'provides_network=True', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', '--prop', `netvm=${net}`, ...small);
  });

  afterAll(() => removeLiveStore(store, [work, net, tpl]));

  test('a qube whose net qube is halted: both start, with one load, one refresh and one PoolSet', async () => {
    expect(await start(work)).toEqual({ code: 0, stderr: '', counts: { storeLoads: 1, vmmRefreshes: 1, poolSets: 1 } });
    expect([domstate(net), domstate(work)]).toEqual(['running', 'running']);
    // the net qube has the entries of its running clients: the client counts as running though no listing saw it start
    const ip = run('qvm-prefs', [work, 'ip'], env).stdout.trim();
    expect(run('qubesdb-read', ['-d', net, `/mapped-ip/${ip}/visible-ip`], env)).toEqual({ code: 0, stdout: `${ip}\n`, stderr: '' });
  });

  test('a qube already running: refused after that one load and refresh', async () => {
    expect(await start(work)).toEqual({
      code: 1,
      stderr: `qvm-start: error: Starting qube failed: ${work}: Domain is already running: '${work}'\n`,
      counts: { storeLoads: 1, vmmRefreshes: 1, poolSets: 0 },
    });
  });
});
