// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices attached without being asked, on the system libvirtd with QEMU
 * as the lifecycle tests, with real loop devices of dom0: an `auto-attach`
 * assignment is attached when the qube starts (qvm-start, admin.vm.Start); a device that
 * appears while the qube runs is announced on admin.Events
 * (`device-list-change`, `device-added`, `device-attach`, and
 * `device-removed` when it goes) and attached by qubesd; an `ask-to-attach`
 * device is attached only when the GUI agent's socket service
 * (`device-agent.GUI`, played here by the test) chooses the qube; a
 * qube's own device list (its QubesDB) is heard too; a required device that
 * is not there refuses the start.
 * The qubes boot nothing: they only have to exist as domains.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { systemLibvirtdFor } from '../vmm/libvirt-daemons.js';
import { LIVE_URI, makeLiveStore, removeLiveStore, type LiveStore } from '../vmm/live-store.js';
import { clientMissing, shown, startDaemon, subscribe, type Daemon, type EventStream, type StreamEvent } from './daemon-env.js';

const lacking = await systemLibvirtdFor({ machine: fs.existsSync('/dev/loop-control') ? [] : ['/dev/loop-control'], installable: clientMissing() });

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', LIVE_URI, ...args], { encoding: 'utf8' });
/** The sources of the qube's block disks (`virsh domblklist`). */
const sources = (name: string): string[] =>
  virsh('domblklist', name)
    .stdout.split('\n')
    .slice(2)
    .map((l) => l.trim().split(/\s+/)[1] ?? '')
    .filter(Boolean);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, pred: () => boolean, ms = 15000): Promise<void> {
  for (const end = Date.now() + ms; !pred(); await sleep(100)) if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
}

/** Loop device numbers nobody uses now (high, away from `losetup -f`'s picks). */
function freeLoops(n: number): string[] {
  const out: string[] = [];
  for (let i = 200 + Math.floor(Math.random() * 40); out.length < n && i < 256; i++)
    if (!fs.existsSync(`/sys/block/loop${i}/loop`)) out.push(`loop${i}`);
  return out;
}

/** The GUI agent's socket service: records each request (header, JSON parameters) and answers `answer()`. */
function guiAgent(socket: string, answer: () => string) {
  const requests: { header: string; params: Record<string, unknown> }[] = [];
  const server = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    c.on('end', () => {
      const nul = buf.indexOf(0);
      requests.push({ header: buf.subarray(0, nul).toString(), params: JSON.parse(buf.subarray(nul + 1).toString()) as Record<string, unknown> });
      c.end(answer());
    });
  });
  server.listen(socket);
  return { requests, close: () => server.close() };
}

describeLacking(lacking, 'device reactions of qubesd on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, work] = ['tpl', 'work'].map((n) => `dv${tag}-${n}`) as [string, string];
  let store: LiveStore | undefined;
  let d: Daemon | undefined;
  let events: EventStream;
  let portA = '';
  const [portB, portC, portD] = freeLoops(3) as [string, string, string];
  const files: Record<string, string> = {};
  const q = (cmd: string, ...args: string[]) => run(cmd, args, d?.store.env ?? (store?.env as NodeJS.ProcessEnv));
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  const bind = (port: string) => execFileSync('losetup', [`/dev/${port}`, files[port] as string]);
  const unbind = (port: string) => spawnSync('losetup', ['-d', `/dev/${port}`]);
  /** An event of `subject` whose field `key` starts with `prefix`. */
  const is = (event: string, subject: string, key: string, prefix: string) => (x: StreamEvent) =>
    x.event === event && x.subject === subject && (x.fields[key] ?? '').startsWith(prefix);
  const seen = (...a: Parameters<typeof is>) => (e: StreamEvent[]) => e.some(is(...a));

  beforeAll(async () => {
    store = makeLiveStore(1024);
    for (const p of ['a', portB, portC]) {
      files[p] = path.join(store.lfs.dir, `${p}.img`);
      fs.writeFileSync(files[p] as string, '');
      fs.truncateSync(files[p] as string, 1024 * 1024);
    }
    portA = path.basename(execFileSync('losetup', ['-f', '--show', files.a as string], { encoding: 'utf8' }).trim());
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128', '--prop', 'netvm='];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', ...small);
    const dir = store.lfs.dir;
    const xml = path.join(dir, 'qubes.xml');
    d = await startDaemon('', {
      store: { dir, xml, env: store.env, read: () => fs.readFileSync(xml, 'utf8'), remove: () => undefined },
      env: { QUBESD_DEVICE_POLL_MS: '200' },
    });
    events = await subscribe(d);
  }, 60000);

  afterAll(async () => {
    events?.close();
    if (d) expect(await d.stop()).toBe(0);
    for (const p of [portA, portB, portC]) if (p) unbind(p);
    for (const f of ['qubesd.sock', 'qubesd.internal.sock', 'qubesd.misc.sock']) fs.rmSync(path.join(store?.lfs.dir ?? '/nonexistent', f), { force: true });
    removeLiveStore(store, [work, tpl]);
  });

  test('an auto-attach assignment of a dom0 device is attached when the qube starts (qvm-start, admin.vm.Start)', async () => {
    ok('qvm-block', 'assign', work, `dom0:${portA}`);
    expect(q('qvm-start', work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(sources(work)).toContain(`/dev/${portA}`);
    expect(ok('qvm-block', 'list')).toMatch(new RegExp(`^dom0:${portA} .* ${work} \\(attached: read-only=no, frontend-dev=xvdi\\)$`, 'm'));
    // the same through qubesd's admin.vm.Start
    ok('qvm-kill', work);
    expect(virsh('domstate', work).stdout.trim()).toBe('shut off');
    expect(shown(await (d as Daemon).call('admin.vm.Start', work))).toBe('0\\0');
    expect(sources(work)).toContain(`/dev/${portA}`);
  }, 60000);

  test('a device appearing on dom0 while the qube runs: announced, attached by qubesd; announced when it goes', async () => {
    // assigned by port before it exists
    ok('qvm-block', 'assign', '--port', work, `dom0:${portB}`);
    bind(portB);
    await events.waitFor(seen('device-added:block', 'dom0', 'device', `dom0:${portB}:`));
    await until(`/dev/${portB} attached to ${work}`, () => sources(work).includes(`/dev/${portB}`));
    await events.waitFor(seen('device-attach:block', work, 'device', `dom0:${portB}:`));
    // the list change first (other loop devices of this machine may come and go meanwhile), then the device, then its attach
    const all = events.events;
    const added = all.findIndex(is('device-added:block', 'dom0', 'device', `dom0:${portB}:`));
    const attached = all.findIndex((e) => e.event === 'device-attach:block' && e.subject === work);
    expect(all.slice(0, added).map((e) => `${e.subject} ${e.event}`)).toContain('dom0 device-list-change:block');
    expect(all[attached]?.fields).toEqual({ device: all[added]?.fields.device, options: "{'read-only': 'no'}" });
    expect(attached).toBeGreaterThan(added);
    // detached (QEMU lets the loop device go), then unbound: gone from dom0's list
    ok('qvm-block', 'detach', work, `dom0:${portB}`);
    unbind(portB);
    await events.waitFor(seen('device-removed:block', 'dom0', 'port', `dom0:${portB}`));
  }, 60000);

  test('ask-to-attach: the GUI agent is asked, and the device attached only when it chooses the qube', async () => {
    let answer = 'deny';
    const agent = guiAgent(path.join(store?.env.QUBES_RUN_DIR as string, 'device-agent.GUI'), () => answer);
    try {
      ok('qvm-block', 'assign', '--ask', '--port', work, `dom0:${portC}`);
      bind(portC);
      await until('the agent asked', () => agent.requests.length === 1);
      expect(agent.requests[0]).toEqual({
        header: 'device-agent.GUI dom0 name dom0',
        params: {
          source: 'dom0',
          device_name: expect.stringContaining(files[portC] as string),
          argument: portC,
          targets: [work],
          default_target: work,
          icons: expect.objectContaining({ [work]: 'appvm-red', [tpl]: 'templatevm-black' }),
        },
      });
      await sleep(1000);
      expect(sources(work)).not.toContain(`/dev/${portC}`);
      unbind(portC);
      await events.waitFor(seen('device-removed:block', 'dom0', 'port', `dom0:${portC}`));
      answer = `allow:${work}`;
      bind(portC);
      await until(`/dev/${portC} attached to ${work}`, () => sources(work).includes(`/dev/${portC}`));
      expect(agent.requests.length).toBe(2);
    } finally {
      agent.close();
    }
  }, 60000);

  test("a running qube's device list: heard through its QubesDB and announced with the qube as backend", async () => {
    const dev = '/qubes-block-devices/sdz';
    // as a backend's udev script writes it: the device's entries, then the empty write that says "changed"
    ok('qubesdb-write', '-d', work, `${dev}/desc`, 'Stick (LABEL)', `${dev}/size`, '1048576', `${dev}/mode`, 'w', '/qubes-block-devices', '');
    await events.waitFor(seen('device-added:block', work, 'device', `${work}:sdz:`));
    ok('qubesdb-rm', '-d', work, `${dev}/desc`, `${dev}/size`, `${dev}/mode`);
    ok('qubesdb-write', '-d', work, '/qubes-block-devices', '');
    await events.waitFor(seen('device-removed:block', work, 'port', `${work}:sdz`));
  }, 30000);

  test('a required block device that is not there refuses the start, naming it', async () => {
    ok('qvm-kill', work);
    ok('qvm-block', 'assign', '--required', '--port', work, `dom0:${portD}`);
    const missing = `Block device dom0:${portD}:* not available`;
    expect(q('qvm-start', work)).toEqual({ code: 1, stdout: '', stderr: `qvm-start: error: Starting qube failed: ${work}: ${missing}\n` });
    expect(shown(await (d as Daemon).call('admin.vm.Start', work))).toBe(`2\\0QubesException\\0\\0${missing}\\0`);
    expect(virsh('domstate', work).stdout.trim()).toBe('shut off');
    ok('qvm-block', 'unassign', '--port', work, `dom0:${portD}`);
  }, 60000);
});
