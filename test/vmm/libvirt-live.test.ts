// Against real libvirt daemons (libvirt-daemons.ts):
//  - the system libvirtd with the QEMU driver: a qube's domain defined from
//    our QEMU template, started under TCG, seen by virsh and by bin/qvm-ls
//    (one list call, counted by a proxy on the socket), suspended, resumed,
//    destroyed and undefined, with its lifecycle events;
//  - a private libvirtd (test driver) that the tests kill and restart.
// Guests boot nothing (no kernel, a blank disk): nothing waits for them.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LibvirtConnectionLostError, LibvirtNoDomainError, LibvirtOperationInvalidError, LibvirtUnreachableError } from '../../lib/errors.js';
import { storageContext } from '../../lib/storage/pools.js';
import { PoolSet } from '../../lib/storage/qube-storage.js';
import { renderDomainXml } from '../../lib/vmm/domain-xml/render.js';
import { LibvirtConnection, type LifecycleEvent } from '../../lib/vmm/libvirt/connection.js';
import { DomainEvent, DomainState } from '../../lib/vmm/libvirt/constants.js';
import type { DomainRef } from '../../lib/vmm/libvirt/procedures.js';
import { FrameDecoder, KEEPALIVE_PROGRAM } from '../../lib/vmm/libvirt/protocol.js';
import { LibvirtVmm } from '../../lib/vmm/libvirt-vmm.js';
import { runAsync } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { PrivateDaemon, SYSTEM_SOCKET, systemLibvirtdFor, virsh } from './libvirt-daemons.js';
import { qubeStore, volume, type QubeStore } from './qube-store.js';

const NAME = `lvt-${process.pid}`;
const UUID_LIVE = `4c1d5e2a-0000-4000-8000-${String(process.pid).padStart(12, '0')}`;

/** A proxy in front of the system socket that records the procedures clients call. */
async function countingProxy(): Promise<{ socketPath: string; procs: number[]; close(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libvirt-proxy-'));
  const socketPath = path.join(dir, 'sock');
  const procs: number[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.createConnection({ path: SYSTEM_SOCKET });
    sockets.push(client, upstream);
    const dec = new FrameDecoder();
    client.on('data', (b) => {
      for (const f of dec.push(b)) if (f.prog !== KEEPALIVE_PROGRAM) procs.push(f.proc);
      upstream.write(b);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    procs,
    close: () =>
      new Promise((r) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}

const systemLacking = await systemLibvirtdFor();

describeLacking(systemLacking, 'system libvirtd, QEMU driver (qemu:///system)', () => {
  let store: QubeStore;
  let conn: LibvirtConnection;
  let dom: DomainRef;
  const events: LifecycleEvent[] = [];
  const env = () => ({
    ...process.env,
    QUBES_XML_PATH: store.file,
    QUBES_BASE_DIR: store.base,
    QUBES_OFFLINE_MODE: '',
    NO_COLOR: '1',
  });

  beforeAll(async () => {
    const vmm = new LibvirtVmm('qemu:///system', '/nonexistent');
    store = qubeStore([{ name: NAME, uuid: UUID_LIVE, props: { kernel: '', memory: '64', vcpus: '1', netvm: '' }, volumes: volume('private', true, NAME) }], vmm);
    // the blank disk storage would have made at start
    const [pv] = await new PoolSet(store.app, storageContext({})).volumesOf(store.app.domains.get(NAME)!);
    const disk = pv!.pool.blockDevice(pv!.volume)!.path;
    fs.mkdirSync(path.dirname(disk), { recursive: true });
    fs.writeFileSync(disk, Buffer.alloc(1024 * 1024));
    conn = vmm.libvirt();
    await conn.subscribeLifecycle((e) => e.domain.uuid === UUID_LIVE && events.push(e));
  }, 60000);

  afterAll(async () => {
    await conn.close();
    virsh('destroy', NAME);
    virsh('undefine', NAME);
    store.remove();
  });

  const liveTest = (name: string, fn: () => Promise<void>, ms = 60000) => test(name, fn, ms);
  const domstate = () => virsh('domstate', NAME);
  const qvmLs = async (proxyPath: string) =>
    runAsync('qvm-ls', ['--raw-data', '-O', 'name,state,xid', NAME], { ...env(), LIBVIRT_DEFAULT_URI: `qemu:///system?socket=${proxyPath}` });

  liveTest('connect and list; rendering the qube looks it up but defines nothing', async () => {
    expect(await conn.getType()).toBe('QEMU');
    expect(Array.isArray(await conn.listAllDomains())).toBe(true);
    await renderDomainXml(store.app, store.app.domains.get(NAME)!, 'qemu:///system');
    expect(domstate().code).not.toBe(0);
    await expect(conn.lookupByUuid(UUID_LIVE)).rejects.toThrow(LibvirtNoDomainError);
    expect(store.app.vmm.info(store.app.domains.get(NAME)!)).toEqual({ state: 'Halted', xid: -1 });
  });

  liveTest('define from the QEMU template: a shut-off domain with our name and UUID', async () => {
    const xml = await renderDomainXml(store.app, store.app.domains.get(NAME)!, 'qemu:///system');
    dom = await conn.defineXml(xml);
    expect(dom).toEqual({ name: NAME, uuid: UUID_LIVE, id: -1 });
    expect(domstate().out).toBe('shut off');
    const desc = await conn.getXmlDesc(dom);
    expect(desc).toContain("<domain type='qemu'>");
    expect(desc).toContain('<memory unit=\'KiB\'>65536</memory>');
    // the first define after the daemon started probes the QEMU binary (30 s on a small machine)
  }, 180000);

  liveTest('create: running under TCG, seen by virsh and by qvm-ls with one list call', async () => {
    dom = await conn.create(dom);
    expect(dom.id).toBeGreaterThan(0);
    expect(domstate().out).toBe('running');
    expect(await conn.getState(dom)).toEqual({ state: DomainState.Running, reason: 1 });
    const proxy = await countingProxy();
    try {
      const r = await qvmLs(proxy.socketPath);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${NAME}|Running|${dom.id}\n`);
      // opening (auth list, keepalive feature, open), then one listing for every qube and the node info
      expect(proxy.procs.sort((a, b) => a - b)).toEqual([1, 6, 60, 66, 344]);
    } finally {
      await proxy.close();
    }
  });

  liveTest('suspend and resume: paused, then running again (virsh and qvm-ls agree)', async () => {
    await conn.suspend(dom);
    expect(domstate().out).toBe('paused');
    const proxy = await countingProxy();
    try {
      expect((await qvmLs(proxy.socketPath)).stdout).toBe(`${NAME}|Paused|${dom.id}\n`);
    } finally {
      await proxy.close();
    }
    await conn.resume(dom);
    expect(domstate().out).toBe('running');
    await expect(conn.create(dom)).rejects.toThrow(LibvirtOperationInvalidError);
  });

  liveTest('a shutdown request returns at once; destroy stops the domain', async () => {
    await conn.shutdown(dom);
    await conn.destroy(dom);
    expect(domstate().out).toBe('shut off');
    await expect(conn.destroy(dom)).rejects.toThrow(LibvirtOperationInvalidError);
    await store.app.vmm.refresh([store.app.domains.get(NAME)!]);
    expect(store.app.vmm.info(store.app.domains.get(NAME)!).state).toBe('Halted');
  });

  liveTest('undefine: gone for virsh and for lookups; the events came in order', async () => {
    await conn.undefine(dom);
    expect(domstate().code).not.toBe(0);
    await expect(conn.lookupByUuid(UUID_LIVE)).rejects.toThrow(LibvirtNoDomainError);
    await new Promise((r) => setTimeout(r, 200));
    const seen = events.map((e) => e.event);
    const must = [DomainEvent.Defined, DomainEvent.Started, DomainEvent.Suspended, DomainEvent.Resumed, DomainEvent.Stopped, DomainEvent.Undefined];
    expect(seen).toEqual(expect.arrayContaining(must));
    // (a plain create also sends RESUMED, before or after STARTED: spec §4.5)
    expect(seen.indexOf(DomainEvent.Defined)).toBeLessThan(seen.indexOf(DomainEvent.Started));
    expect(seen.indexOf(DomainEvent.Suspended)).toBeLessThan(seen.lastIndexOf(DomainEvent.Resumed));
    expect(seen.lastIndexOf(DomainEvent.Resumed)).toBeLessThan(seen.indexOf(DomainEvent.Stopped));
    expect(seen.lastIndexOf(DomainEvent.Stopped)).toBeLessThan(seen.indexOf(DomainEvent.Undefined));
    expect(events.find((e) => e.event === DomainEvent.Stopped)?.detail).toBe(1); // DESTROYED
  });
});

describeLacking(PrivateDaemon.lacking(), 'a libvirtd that dies and comes back (private daemon, test driver)', () => {
  let daemon: PrivateDaemon;
  const testDomain = (name: string) => `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>`;

  beforeAll(async () => {
    daemon = new PrivateDaemon();
    await daemon.start();
  }, 30000);
  afterAll(async () => {
    await daemon.stop();
  });
  const privTest = (name: string, fn: () => Promise<void>) => test(name, fn, 60000);

  privTest('killed in the middle of a call: a clear error; down: unreachable; restarted: the next call reconnects', async () => {
    const conn = new LibvirtConnection(daemon.uri);
    expect(await conn.getType()).toBe('TEST');
    await daemon.signal('SIGSTOP');
    const pending = conn.defineXml(testDomain('probe-mid')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await daemon.signal('SIGKILL');
    const lost = await pending;
    expect(lost).toBeInstanceOf(LibvirtConnectionLostError);
    expect((lost as Error).message).toBe(
      `Lost the connection to libvirt at ${daemon.uri} during DOMAIN_DEFINE_XML_FLAGS: the daemon closed the connection; it may or may not have taken effect`,
    );
    const down = await conn.getType().catch((e: unknown) => e);
    expect(down).toBeInstanceOf(LibvirtUnreachableError);
    expect((down as Error).message).toBe(`Cannot connect to libvirt at ${daemon.uri}: nobody listens on ${daemon.socketPath} (is libvirtd running?)`);
    await daemon.start();
    expect(await conn.getType()).toBe('TEST');
    expect(conn.connectCount).toBe(2);
    await conn.close();
  });

  privTest('dropped while idle: noticed, and after a restart the subscription is registered again', async () => {
    const conn = new LibvirtConnection(daemon.uri);
    const events: LifecycleEvent[] = [];
    let reconnects = 0;
    conn.onReconnect(() => reconnects++);
    const sub = await conn.subscribeLifecycle((e) => events.push(e));
    const dropped = new Promise<void>((r) => conn.onDisconnect(() => r()));
    await daemon.signal('SIGTERM');
    await dropped;
    expect(conn.isOpen).toBe(false);
    await daemon.start();
    const d = await conn.defineXml(testDomain('probe-after'));
    expect(reconnects).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(events.map((e) => [e.domain.name, e.event])).toEqual([['probe-after', DomainEvent.Defined]]);
    await conn.undefine(d);
    await sub.close();
    await conn.close();
  });

  privTest('the Xen template is accepted by a real libvirt parser (test driver) and the domain starts', async () => {
    const vmm = new LibvirtVmm(daemon.uri, '/nonexistent');
    const s = qubeStore(
      [
        { name: 'pvhqube', props: { virt_mode: 'pvh', kernel: 'dummy', maxmem: '4000', netvm: 'net' }, volumes: volume('root', false, 'pvhqube') + volume('private', true, 'pvhqube') },
        { name: 'net', props: { provides_network: 'True', netvm: '' } },
        { name: 'hvmqube', props: { virt_mode: 'hvm', kernel: '', netvm: '' }, features: { 'video-model': 'none' } },
      ],
      vmm,
    );
    try {
      const conn = vmm.libvirt();
      for (const name of ['pvhqube', 'hvmqube']) {
        const vm = s.app.domains.get(name)!;
        const d = await conn.defineXml(await renderDomainXml(s.app, vm, 'xen:///'));
        expect(d.uuid).toBe(vm.uuid);
        const started = await conn.create(d);
        expect((await conn.getState(started)).state).toBe(DomainState.Running);
        if (name === 'pvhqube') expect(await conn.getXmlDesc(started)).toContain("<backenddomain name='net'/>");
      }
      await vmm.refresh(s.app.domains.all());
      expect(vmm.info(s.app.domains.get('pvhqube')!).state).toBe('Running');
      expect(vmm.info(s.app.domains.get('net')!).state).toBe('Halted');
      await vmm.close();
    } finally {
      s.remove();
    }
  });
});
