// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd handles the stop of a qube at once (issue 13 item 1), on the
 * system libvirtd with QEMU as the lifecycle tests: a domain destroyed
 * behind the daemon's back has its volumes committed within a second, its
 * QubesDB daemon stopped and domain-shutdown announced; an auto_cleanup
 * disposable is removed from qubes.xml and libvirt; a stop while the
 * daemon's libvirt connection is down is handled once it is back; and the
 * daemon racing `qvm-shutdown --wait` on the same stop commits once.
 *
 * The daemon reaches libvirtd through a relay of this test (a UNIX socket
 * passing bytes both ways): the system libvirtd is shared with other tests
 * and never killed, so "libvirtd dies and comes back" is the relay
 * dropping every connection and refusing new ones, then listening again,
 * which is what qubesd sees of a restarted libvirtd (EOF, refused
 * connects, then a new connection without its event registration). The
 * commands of the test talk to libvirtd directly.
 * The qubes boot nothing: they only have to exist as domains.
 *
 * The race runs RACE_ROUNDS rounds (QUBES_STOP_RACE_ROUNDS, default 10;
 * 50 for the long version): every round is the same start, write,
 * ask-and-destroy and check, differing only in the pause before the
 * destroy (none every fifth round, 150 ms in the others), so 10 rounds run
 * both pauses (2 and 8 times) at a fifth of the cost (each round starts a
 * QEMU domain: about 3 s on 2 cores).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { SYSTEM_SOCKET, systemLibvirtdFor } from '../vmm/libvirt-daemons.js';
import { LIVE_URI, makeLiveStore, removeLiveStore, type LiveStore } from '../vmm/live-store.js';
import { shown, startDaemon, subscribe, type Daemon, type EventStream } from './daemon-env.js';

const lacking = await systemLibvirtdFor();

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', LIVE_URI, ...args], { encoding: 'utf8' });
const domstate = (name: string) => {
  const r = virsh('domstate', name);
  return r.status === 0 ? r.stdout.trim() : 'undefined';
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RACE_ROUNDS = Number(process.env.QUBES_STOP_RACE_ROUNDS ?? 10);
// fewer than 2 would leave out the 150 ms pause (or, NaN, every round)
if (!Number.isInteger(RACE_ROUNDS) || RACE_ROUNDS < 2) throw new Error(`QUBES_STOP_RACE_ROUNDS must be an integer of at least 2, not ${process.env.QUBES_STOP_RACE_ROUNDS}`);

/** A UNIX socket relaying to libvirtd's, which can drop every connection and stop listening ("libvirtd killed"). */
class Relay {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  constructor(readonly socketPath: string) {}

  async up(): Promise<void> {
    fs.rmSync(this.socketPath, { force: true });
    this.server = net.createServer((client) => {
      const upstream = net.connect(SYSTEM_SOCKET);
      for (const s of [client, upstream]) {
        this.open.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.open.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.socketPath, resolve));
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.open) c.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

describeLacking(lacking, 'qubesd handles qube stops (qemu:///system)', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, work, dvm] = ['tpl', 'work', 'dvm'].map((n) => `sr${tag}-${n}`) as [string, string, string];
  let store: LiveStore | undefined;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let relay: Relay;
  let d: Daemon;
  let events: EventStream;
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  const qubeDir = (name: string) => path.join(dir, 'appvms', name);
  /** The newest revision number of the private volume (0: none yet). */
  const revision = (name: string) =>
    Math.max(0, ...fs.readdirSync(qubeDir(name)).map((f) => Number(/^private\.img\.(\d+)@/.exec(f)?.[1] ?? 0)));
  const dirty = (name: string) => fs.readdirSync(qubeDir(name)).filter((f) => f.includes('-dirty'));
  const qdbPid = (name: string) => path.join(env.QUBESDB_SOCKET_DIR as string, `qubesdb.${name}.pid`);
  const stopEvents = (name: string) => events.events.filter((e) => e.subject === name && /^(domain-stopped|domain-shutdown|property-reset:(xid|stubdom_xid|start_time))$/.test(e.event)).map((e) => e.event);
  const ONE_STOP = ['domain-stopped', 'property-reset:xid', 'property-reset:stubdom_xid', 'property-reset:start_time', 'domain-shutdown'];

  async function until(what: string, cond: () => boolean, ms: number): Promise<number> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
      await sleep(10);
    }
    return Date.now() - t0;
  }

  beforeAll(async () => {
    store = makeLiveStore(1024);
    ({ env } = store);
    dir = store.lfs.dir;
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128'];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', '--prop', 'netvm=', ...small);
    relay = new Relay(path.join(dir, 'relay.sock'));
    await relay.up();
    const xml = path.join(dir, 'qubes.xml');
    d = await startDaemon('', {
      store: { dir, xml, env: { ...env }, read: () => fs.readFileSync(xml, 'utf8'), remove: () => undefined },
      env: { LIBVIRT_DEFAULT_URI: `${LIVE_URI}?socket=${relay.socketPath}` },
    });
    events = await subscribe(d);
  }, 120000);

  afterAll(async () => {
    events?.close();
    if (d) expect(await d.stop()).toBe(0);
    await relay?.down();
    for (const f of ['qubesd.sock', 'qubesd.internal.sock', 'qubesd.misc.sock', 'relay.sock']) fs.rmSync(path.join(dir ?? '/nonexistent', f), { force: true });
    const disps = store ? [...fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8').matchAll(/<property name="name">(disp\d+)<\/property>/g)].map((m) => m[1] as string) : [];
    removeLiveStore(store, [work, dvm, tpl, ...disps]);
  });

  test('a qube destroyed behind the daemon: within a second its volumes are committed, its QubesDB daemon is gone, domain-shutdown is announced', async () => {
    ok('qvm-start', work);
    expect(domstate(work)).toBe('running');
    const before = revision(work);
    expect(dirty(work)).toContain('private-dirty.img');
    expect(fs.existsSync(qdbPid(work))).toBe(true);
    expect(virsh('destroy', work).status).toBe(0);
    await until('the revision and no dirty image', () => revision(work) === before + 1 && dirty(work).length === 0, 1000);
    await until('the QubesDB daemon gone', () => !fs.existsSync(qdbPid(work)), 1000);
    expect(q('qubesdb-read', '-d', work, '/name').code).not.toBe(0);
    await until('domain-shutdown announced', () => stopEvents(work).includes('domain-shutdown'), 1000);
    await sleep(200);
    expect(stopEvents(work)).toEqual(ONE_STOP);
    expect(fs.existsSync(path.join(env.QUBES_RUN_DIR as string, `start-time.${work}`))).toBe(false);
    // the next command finds nothing to reconcile
    expect(q('qvm-start', work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(revision(work)).toBe(before + 1);
    ok('qvm-kill', work);
  }, 60000);

  test('a disposable with auto_cleanup that stops is removed from qubes.xml and libvirt', async () => {
    ok('qvm-create', dvm, '-t', tpl, '-l', 'red', '--prop', 'template_for_dispvms=True', '--prop', 'memory=128', '--prop', 'maxmem=128');
    ok('qvm-create', '--disp', '-t', dvm, '--prop', 'auto_cleanup=True', '--prop', 'netvm=');
    const disp = /<property name="name">(disp\d+)<\/property>/.exec(fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8'))?.[1] as string;
    ok('qvm-start', disp);
    expect(virsh('destroy', disp).status).toBe(0);
    await until('the disposable gone from qubes.xml', () => !fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8').includes(`>${disp}<`), 5000);
    await until('the domain undefined', () => domstate(disp) === 'undefined', 5000);
    expect(fs.existsSync(qubeDir(disp))).toBe(false);
    await events.waitFor((e) => e.some((x) => x.event === 'domain-delete' && x.fields.vm === disp), 5000);
    expect(stopEvents(disp)).toEqual(ONE_STOP);
  }, 60000);

  test('a qube that stops while libvirt is away is handled once the daemon is connected again', async () => {
    ok('qvm-start', work);
    const before = revision(work);
    const seen = stopEvents(work).length;
    await relay.down();
    expect(virsh('destroy', work).status).toBe(0);
    // nobody heard it: the volumes stay uncommitted while the connection is down
    await sleep(1500);
    expect([revision(work), dirty(work)]).toEqual([before, expect.arrayContaining(['private-dirty.img'])]);
    await relay.up();
    await until('handled after the reconnect', () => revision(work) === before + 1 && dirty(work).length === 0, 5000);
    await until('the QubesDB daemon gone', () => !fs.existsSync(qdbPid(work)), 2000);
    await events.waitFor(() => stopEvents(work).length === seen + ONE_STOP.length, 2000);
    expect(d.log()).toContain('connected to libvirt again');
    // the qubes that never ran were left alone (the kernel volume's running marker is every running qube's)
    expect(d.log()).not.toMatch(new RegExp(`(${tpl}|${dvm}) stopped`));
  }, 60000);

  test(`the daemon and qvm-shutdown --wait racing on the same stop, ${RACE_ROUNDS} times: one commit each, nothing lost`, async () => {
    const image = path.join(qubeDir(work), 'private.img');
    for (let round = 0; round < RACE_ROUNDS; round++) {
      // through the daemon: a command's start-up would double the round
      expect(shown(await d.call('admin.vm.Start', work))).toBe('0\\0');
      const before = revision(work);
      const seen = stopEvents(work).length;
      // what the qube wrote while running must be in the committed image
      const marker = Buffer.from(`round ${round} ${tag}\n`);
      const fd = fs.openSync(path.join(qubeDir(work), 'private-dirty.img'), 'r+');
      fs.writeSync(fd, marker, 0, marker.length, 4096);
      fs.closeSync(fd);
      // qvm-shutdown asks (nothing inside answers) and polls; the domain is then destroyed under both of them
      const shutdown = spawn(path.join(ROOT, 'bin', 'qvm-shutdown'), ['--wait', '--timeout', '20', work], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      shutdown.stderr.on('data', (b) => (stderr += b));
      const exited = new Promise<number | null>((resolve) => shutdown.on('exit', resolve));
      await sleep(round % 5 === 0 ? 0 : 150);
      expect(virsh('destroy', work).status).toBe(0);
      expect([round, await exited, stderr]).toEqual([round, 0, '']);
      await events.waitFor(() => stopEvents(work).length >= seen + ONE_STOP.length, 5000);
      await sleep(50);
      expect({ round, revision: revision(work), dirty: dirty(work), events: stopEvents(work).length - seen }).toEqual({ round, revision: before + 1, dirty: [], events: ONE_STOP.length });
      const got = Buffer.alloc(marker.length);
      const rd = fs.openSync(image, 'r');
      fs.readSync(rd, got, 0, got.length, 4096);
      fs.closeSync(rd);
      expect(got.toString()).toBe(marker.toString());
    }
  }, 900000);
});
