// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What qubesd does by itself for running qubes (issue 13, items 3 and 4),
 * on the system libvirtd with QEMU as the lifecycle tests: one-shot
 * commands change the store while the daemon runs, and the running qubes'
 * QubesDB follows without any further command — services and vm-config
 * entries within a second, a net qube's firewall keys when a rule expires,
 * the network entries of a qube given another net qube; and the GUI and
 * audio qubes of running qubes are not shut down, by our qvm-shutdown and
 * through the daemon. The qubes boot nothing: they only have to exist as
 * domains with their QubesDB daemons.
 */
import { randomBytes } from 'node:crypto';
import { QubesDbClient } from '../../lib/vmm/qubesdb/client.js';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { systemLibvirtdFor } from '../vmm/libvirt-daemons.js';
import { makeLiveStore, removeLiveStore, type LiveStore } from '../vmm/live-store.js';
import { shown, startDaemonOnLiveStore, stopDaemonOnLiveStore, type Daemon } from './daemon-env.js';

const lacking = await systemLibvirtdFor();

describeLacking(lacking, 'running qubes follow their settings through qubesd on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, net1, net2, work] = ['tpl', 'net1', 'net2', 'work'].map((n) => `dr${tag}-${n}`) as [string, string, string, string];
  let store: LiveStore | undefined;
  let d: Daemon | undefined;
  const env = () => store?.env as NodeJS.ProcessEnv;
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env());
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  /** A qube's QubesDB entries under `prefix`, sorted. */
  const entries = async (qube: string, prefix: string): Promise<[string, string][]> => {
    const c = await QubesDbClient.open(qube, { env: env() });
    try {
      return [...(await c.multiread(prefix))].sort(([a], [b]) => (a < b ? -1 : 1));
    } finally {
      c.close();
    }
  };
  /** Poll until `cond` holds; how long it took (ms). @throws after `ms` */
  const until = async (cond: () => Promise<boolean>, ms: number, what: string): Promise<number> => {
    const start = Date.now();
    while (!(await cond())) {
      if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Date.now() - start;
  };

  beforeAll(async () => {
    store = makeLiveStore(1024);
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128'];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    for (const n of [net1, net2]) ok('qvm-create', n, '-t', tpl, '-l', 'red', '--prop', 'provides_network=True', '--prop', 'netvm=', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', '--prop', `netvm=${net1}`, ...small);
    ok('qvm-start', net2);
    ok('qvm-start', work);
    d = await startDaemonOnLiveStore(store);
  }, 120000);

  afterAll(async () => {
    const code = await stopDaemonOnLiveStore(d, store);
    if (d) expect(code).toBe(0);
    removeLiveStore(store, [work, net1, net2, tpl]);
  });

  test('qvm-service and qvm-features on a running qube: its QubesDB shows the change within a second', async () => {
    const has = (prefix: string, want: [string, string][]) => async () => JSON.stringify(await entries(work, prefix)) === JSON.stringify(want);
    expect(await entries(work, '/qubes-service/tracked')).toEqual([]);
    ok('qvm-service', work, 'tracked', 'on');
    expect(await until(has('/qubes-service/tracked', [['/qubes-service/tracked', '1']]), 1000, 'service on')).toBeLessThan(1000);
    ok('qvm-service', work, 'tracked', 'off');
    await until(has('/qubes-service/tracked', [['/qubes-service/tracked', '0']]), 1000, 'service off');
    ok('qvm-service', work, '-D', 'tracked');
    await until(has('/qubes-service/tracked', []), 1000, 'service unset');
    ok('qvm-features', work, 'vm-config.tinted', 'yes');
    await until(has('/vm-config/', [['/vm-config/tinted', 'yes']]), 1000, 'vm-config set');
    ok('qvm-features', work, '--unset', 'vm-config.tinted');
    await until(has('/vm-config/', []), 1000, 'vm-config unset');
    // a qube that does not run is left alone (its QubesDB is written at its start)
    ok('qvm-service', tpl, 'tracked', 'on');
  }, 30000);

  test("a rule expiring in 2 s: the net qube's firewall keys change by themselves", async () => {
    const ip = ok('qvm-prefs', work, 'ip').trim();
    const rules = async () => (await entries(net1, `/qubes-firewall/${ip}/`)).map(([k, v]) => `${k.slice(`/qubes-firewall/${ip}/`.length)} = ${v}`);
    // qvm-firewall itself loads the new rule; on a machine so busy that the command outlives most of
    // the rule's 2 s, the rule may be gone before it is seen, which would prove nothing: try again
    for (let attempt = 1; ; attempt++) {
      const t0 = Date.now();
      ok('qvm-firewall', work, 'add', '--before', '0', 'accept', 'dsthost=192.0.2.9', 'expire=+2');
      const seen = await rules();
      if (Date.now() - t0 < 1500 || attempt === 3) {
        expect(seen).toEqual(['0000 = action=accept dst4=192.0.2.9/32', '0001 = action=accept', 'policy = drop']);
        break;
      }
      await until(async () => (await rules()).length === 2, 5000, 'the expired rule gone from the net qube');
    }
    await until(async () => (await rules()).length === 2, 5000, 'the expired rule gone from the net qube');
    expect(await rules()).toEqual(['0000 = action=accept', 'policy = drop']);
    // and from the file, as the reference's expiry saves the rules again
    expect(ok('qvm-firewall', work, 'list', '--raw')).not.toMatch(/192\.0\.2\.9/);
  }, 30000);

  test('the GUI or audio qube of a running qube is not shut down; nor through the daemon', async () => {
    ok('qvm-prefs', work, 'guivm', net2);
    expect(q('qvm-shutdown', net2)).toEqual({ code: 1, stdout: '', stderr: `qvm-shutdown: error: Failed to shut down ${net2}: There are running VMs using this VM as GuiVM: ${work}\n` });
    expect(shown(await (d as Daemon).call('admin.vm.Shutdown', net2))).toBe(`2\\0QubesVMError\\0\\0There are running VMs using this VM as GuiVM: ${work}\\0`);
    ok('qvm-prefs', '--default', work, 'guivm');
    ok('qvm-prefs', work, 'audiovm', net2);
    expect(shown(await (d as Daemon).call('admin.vm.Shutdown', net2))).toBe(`2\\0QubesVMInUseError\\0\\0There are running VMs using this VM as AudioVM: ${work}\\0`);
    expect(q('qvm-shutdown', net2)).toMatchObject({ code: 1, stderr: `qvm-shutdown: error: Failed to shut down ${net2}: There are running VMs using this VM as AudioVM: ${work}\n` });
    ok('qvm-prefs', '--default', work, 'audiovm');
    expect(ok('qvm-ls', '--raw-data', '-O', 'NAME,STATE', net2)).toBe(`${net2}|Running\n`);
  }, 30000);

  test("another net qube for a running qube: its network entries, and both net qubes' lists of clients", async () => {
    const ip = ok('qvm-prefs', work, 'ip').trim();
    const gateway = (n: string) => ok('qvm-prefs', n, 'gateway').trim();
    expect((await entries(work, '/qubes-gateway')).map(([, v]) => v)).toEqual([gateway(net1)]);
    expect(await entries(net1, '/connected-ips')).toEqual([['/connected-ips', ip], ['/connected-ips6', '']]);
    ok('qvm-prefs', work, 'netvm', net2);
    await until(async () => (await entries(net2, '/connected-ips')).some(([k, v]) => k === '/connected-ips' && v === ip), 3000, 'the new net qube knows the client');
    await until(async () => (await entries(net1, '/connected-ips'))[0]?.[1] === '', 3000, 'the old net qube forgets the client');
    expect((await entries(work, '/qubes-gateway')).map(([, v]) => v)).toEqual([gateway(net2)]);
    expect(await entries(net2, `/mapped-ip/${ip}/`)).toEqual([[`/mapped-ip/${ip}/visible-gateway`, gateway(net2)], [`/mapped-ip/${ip}/visible-ip`, ip]]);
    expect((await entries(net2, `/qubes-firewall/${ip}/`)).map(([k]) => k)).toEqual([`/qubes-firewall/${ip}/0000`, `/qubes-firewall/${ip}/policy`]);
  }, 30000);
});
