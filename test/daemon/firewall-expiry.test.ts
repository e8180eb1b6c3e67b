// The failure paths of expiring firewall rules, at unit level: the sweep
// and the daemon's timer with the reload or the expiry itself replaced by
// one that fails, on a copy of the q10 vector store with real firewall.xml
// files (written by the built qvm-firewall).
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../lib/app/store.js';
import type { Qubes } from '../../lib/app/app.js';
import { pathsFromEnv } from '../../lib/config.js';
import type { DaemonServices } from '../../lib/daemon/method.js';
import { startFirewallExpiry } from '../../lib/daemon/reactions/firewall-expiry.js';
import { nextRuleExpiry, RuleFileCache } from '../../lib/firewall/firewall.js';
import { expireRules, type ExpiryResult } from '../../lib/ops/firewall-reload.js';
import type { QubesVM } from '../../lib/vm/qubes-vm.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { makeVmm } from '../../lib/vmm/open-vmm.js';
import { run, tmpStore, type TmpStore } from '../helpers.js';

const T0 = 1_800_000_000;

let s: TmpStore;
beforeEach(() => {
  s = tmpStore('qubes-xml/q10.xml');
});
afterEach(() => s.remove());

const addExpiring = (vm: string, at: number, now = at - 100) => {
  const r = run('qvm-firewall', [vm, 'add', '--before', '0', 'accept', 'dsthost=192.0.2.9', `expire=${at}`], { ...s.env, QUBES_TEST_NOW: String(now) });
  expect(r).toMatchObject({ code: 0, stderr: '' });
};

describe('expireRules', () => {
  test('a reload that throws for one qube does not end the others; it is reported and retried when asked', async () => {
    for (const vm of ['vm0001', 'vm0002', 'vm0003']) addExpiring(vm, T0);
    const env = { ...s.env, QUBES_TEST_NOW: String(T0 + 1) };
    const store = new Store(pathsFromEnv(env), new OfflineVmm());
    const tried: string[] = [];
    const reload = async (_app: Qubes, vm: QubesVM) => {
      tried.push(vm.name);
      if (vm.name === 'vm0001') throw new Error('libvirt is down');
      return 'written' as const;
    };
    const r = await expireRules(store, env, { reload });
    expect(tried).toEqual(['vm0001', 'vm0002', 'vm0003']);
    expect(r.expired.map(({ vm, reload }) => [vm.name, reload])).toEqual([
      ['vm0001', undefined],
      ['vm0002', 'written'],
      ['vm0003', 'written'],
    ]);
    expect(r.reloadFailed.map(({ vm, error }) => [vm.name, error.message])).toEqual([['vm0001', 'libvirt is down']]);
    // nothing expires any more, but the qube whose reload failed is reloaded when retried
    tried.length = 0;
    const again = await expireRules(store, env, { reload, retry: ['vm0001', 'gone'] });
    expect(tried).toEqual(['vm0001']);
    expect(again.expired).toEqual([]);
    expect(again.reloadFailed.map(({ vm }) => vm.name)).toEqual(['vm0001']);
  });
});

describe('the daemon expiry timer', () => {
  const start = (expire: typeof expireRules) => {
    const env = { ...s.env, QUBES_OFFLINE_MODE: '', LIBVIRT_DEFAULT_URI: 'test:///default' };
    // not offline (a timer is set), never connected (the expiry is replaced)
    const store = new Store(pathsFromEnv(env), makeVmm(false, env));
    const services: DaemonServices = { env, store, warn: () => {}, current: () => store.read(), subscribe: () => () => {} };
    const errors: string[] = [];
    const reaction = startFirewallExpiry(services, { info: () => {}, warning: () => {}, error: (m) => errors.push(m) }, { expire, retryFirstMs: 40, retryMaxMs: 80 });
    return { reaction, errors };
  };
  const none: ExpiryResult = { expired: [], failed: [], reloadFailed: [] };
  /** A rule of vm0001 expiring by the real clock within 3 s (the timer takes only rules not expired yet). */
  const expiringSoon = () => addExpiring('vm0001', Math.floor(Date.now() / 1000) + 2, Date.now() / 1000);
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  };

  test('an expiry that throws is tried again after a back-off, not at once', async () => {
    expiringSoon();
    let calls = 0;
    const { reaction, errors } = start(async () => {
      calls++;
      throw new Error('cannot lock the store');
    });
    await until(() => calls > 0);
    // its rule expired, still in its file: without a back-off the timer would spin (or, before, stop)
    await new Promise((r) => setTimeout(r, 400));
    await reaction.stop();
    // at about 0, 40, 120, 200, 280, 360 ms after the first
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(7);
    expect(errors[0]).toBe('firewall expiry: cannot lock the store');
  });

  test('stop waits for the expiry under way', async () => {
    expiringSoon();
    let release: () => void = () => {};
    let began = false;
    let finished = false;
    const { reaction } = start(async () => {
      began = true;
      await new Promise<void>((r) => (release = r));
      finished = true;
      return none;
    });
    await until(() => began);
    const stopped = reaction.stop();
    setTimeout(() => release(), 50);
    await stopped;
    expect(finished).toBe(true);
  });
});

describe('nextRuleExpiry with a cache (the timer, at each store change)', () => {
  test('reads again only the files whose inode, size or time changed', () => {
    addExpiring('vm0001', T0 + 50);
    addExpiring('vm0002', T0 + 60);
    const store = new Store(pathsFromEnv(s.env), new OfflineVmm());
    const cache = new RuleFileCache();
    // a whole second, that utimes can give back exactly
    const file = path.join(s.dir, 'appvms', 'vm0001', 'firewall.xml');
    fs.utimesSync(file, T0 - 100, T0 - 100);
    expect(nextRuleExpiry(store.read(), T0 * 1000, cache)).toBe(T0 + 50);
    // the same bytes' length, time and inode: taken as unchanged (not parsed again)
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(String(T0 + 50), String(T0 + 70)));
    fs.utimesSync(file, T0 - 100, T0 - 100);
    expect(nextRuleExpiry(store.read(), T0 * 1000, cache)).toBe(T0 + 50);
    expect(nextRuleExpiry(store.read(), T0 * 1000)).toBe(T0 + 60);
    // a save (a new file) is read again
    addExpiring('vm0001', T0 + 40, T0);
    expect(nextRuleExpiry(store.read(), T0 * 1000, cache)).toBe(T0 + 40);
  });
});
