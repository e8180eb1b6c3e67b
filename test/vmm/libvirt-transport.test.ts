// The socket and API layers against a scripted daemon (fake-libvirtd.ts):
// lazy opening and its sequence, serial matching with out-of-order replies
// and interleaved events, keepalive, dropped connections and the one
// reconnect, silence, corrupt frames, authentication, and that an idle
// connection does not keep a command running.
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  LibvirtConnectionLostError,
  LibvirtNoDomainError,
  LibvirtUnreachableError,
} from '../../lib/errors.js';
import { LibvirtConnection, type LifecycleEvent } from '../../lib/vmm/libvirt/connection.js';
import { DomainEvent } from '../../lib/vmm/libvirt/constants.js';
import { P, writeDomain, type DomainRef } from '../../lib/vmm/libvirt/procedures.js';
import { KEEPALIVE_PING, KEEPALIVE_PROGRAM, MessageType, keepaliveFrame, type Frame } from '../../lib/vmm/libvirt/protocol.js';
import { XdrReader, XdrWriter } from '../../lib/vmm/libvirt/xdr.js';
import { ROOT } from '../helpers.js';
import { fakeLibvirtd, uhyper, type FakeDaemon, type Handler } from './fake-libvirtd.js';

const DOM: DomainRef = { name: 'work', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', id: 3 };
const domPayload = (d = DOM) => writeDomain(new XdrWriter(), d).toBuffer();
const strPayload = (s: string) => new XdrWriter().string(s).toBuffer();
const lifecycle = (cb: number, event: number, detail: number) => writeDomain(new XdrWriter().int(cb), DOM).int(event).int(detail).toBuffer();

let daemon: FakeDaemon | undefined;
const conns: LibvirtConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close();
  await daemon?.close();
  daemon = undefined;
});

async function setup(handler: Handler, opts?: Parameters<typeof fakeLibvirtd>[1], connOpts?: ConstructorParameters<typeof LibvirtConnection>[1]) {
  daemon = await fakeLibvirtd(handler, opts);
  const c = new LibvirtConnection(daemon.uri, connOpts);
  conns.push(c);
  return { d: daemon, c };
}

const calls = (d: FakeDaemon, i = 0) => (d.peers[i]?.received ?? []).filter((f) => f.prog !== KEEPALIVE_PROGRAM).map((f) => f.proc);

describe('opening', () => {
  test('nothing connects until the first call; then AUTH_LIST, keepalive feature, CONNECT_OPEN without client-only parameters', async () => {
    const { d, c } = await setup((f, p) => (f.proc === P.getLibVersion.proc ? p.reply(f, uhyper(9000000n)) : p.error(f, 1, 'x')));
    await new Promise((r) => setTimeout(r, 50));
    expect(d.peers).toHaveLength(0);
    expect(c.connectCount).toBe(0);
    expect(await c.getLibVersion()).toBe(9000000n);
    expect(await c.getLibVersion()).toBe(9000000n);
    expect(c.connectCount).toBe(1);
    expect(calls(d)).toEqual([66, 60, 1, 157, 157]);
    const open = d.peers[0]!.received.find((f) => f.proc === 1)!;
    const r = new XdrReader(open.payload);
    expect([r.optional((x) => x.string()), r.uint()]).toEqual(['test:///default', 0]);
    expect(new XdrReader(d.peers[0]!.received[1]!.payload).int()).toBe(10);
  });

  test('polkit: AUTH_POLKIT before opening; SASL only: a clear error', async () => {
    const pk = await setup((f, p) => (f.proc === P.authPolkit.proc ? p.reply(f, new XdrWriter().int(1).toBuffer()) : p.reply(f, strPayload('TEST'))), { authTypes: [2] });
    expect(await pk.c.getType()).toBe('TEST');
    expect(calls(pk.d)).toEqual([66, 70, 60, 1, 3]);
    await pk.c.close();
    await pk.d.close();
    const sasl = await setup(() => {}, { authTypes: [1] });
    await expect(sasl.c.getType()).rejects.toThrow(LibvirtUnreachableError);
    await expect(sasl.c.getType()).rejects.toThrow(/SASL/);
  });

  test('a daemon refusing CONNECT_OPEN, or no daemon: unreachable errors naming libvirt and the URI', async () => {
    daemon = await fakeLibvirtd(() => {}, { refuseOpen: 'no connection driver available for xen:///' });
    const uri = `xen:///?socket=${daemon.socketPath}`;
    const refused = await new LibvirtConnection(uri).getUri().catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(LibvirtUnreachableError);
    expect((refused as Error).message).toBe(`Cannot open libvirt connection ${uri}: no connection driver available for xen:///`);
    const sock = daemon.socketPath;
    await daemon.close();
    daemon = undefined;
    const gone = await new LibvirtConnection(uri).getUri().catch((x: unknown) => x);
    expect(gone).toBeInstanceOf(LibvirtUnreachableError);
    expect((gone as Error).message).toBe(`Cannot connect to libvirt at ${uri}: ${sock} does not exist (is libvirtd running?)`);
  });
});

describe('calls and events on one connection', () => {
  test('replies matched by serial when they come out of order, an event before its reply, typed errors', async () => {
    const held: Frame[] = [];
    const events: LifecycleEvent[] = [];
    const order: string[] = [];
    const { c } = await setup((f, p) => {
      if (f.proc === P.eventRegisterAny.proc) p.reply(f, new XdrWriter().int(27).toBuffer());
      else if (f.proc === P.eventDeregisterAny.proc) p.reply(f);
      else if (f.proc === P.getHostname.proc) held.push(f);
      else if (f.proc === P.getUri.proc) {
        // answer the later call first, then the held one, with events in between
        p.reply(f, strPayload('test:///default'));
        p.message(318, lifecycle(99, DomainEvent.Started, 0)); // another callback id: not ours
        p.message(318, lifecycle(27, DomainEvent.Stopped, 1));
        p.reply(held[0]!, strPayload('host'));
      } else if (f.proc === P.lookupByName.proc) p.error(f, 42, "Domain not found: no domain with matching name 'x'");
    });
    const sub = await c.subscribeLifecycle((e) => {
      events.push(e);
      order.push('event');
    });
    const host = c.getHostname().then((h) => (order.push('hostname'), h));
    const uri = c.getUri().then((u) => (order.push('uri'), u));
    expect(await Promise.all([host, uri])).toEqual(['host', 'test:///default']);
    // the event came before the held reply: its listener ran before that call returned
    expect(order.indexOf('event')).toBeLessThan(order.indexOf('hostname'));
    expect(events).toEqual([{ domain: DOM, event: DomainEvent.Stopped, detail: 1 }]);
    const e = await c.lookupByName('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LibvirtNoDomainError);
    expect((e as LibvirtNoDomainError).libvirtCode).toBe(42); // libvirt's virErrorNumber; .code is the stable EQUBES_ code
    await sub.close();
  });

  test('PINGs from the daemon are answered with PONGs', async () => {
    const { d, c } = await setup((f, p) => {
      p.socket.write(keepaliveFrame(KEEPALIVE_PING));
      setTimeout(() => p.reply(f, strPayload('TEST')), 50);
    });
    expect(await c.getType()).toBe('TEST');
    const keep = d.peers[0]!.received.filter((f) => f.prog === KEEPALIVE_PROGRAM);
    expect(keep.map((f) => [f.proc, f.type])).toEqual([[2, MessageType.Message]]);
  });
});

describe('dropped connections', () => {
  test('a lookup cut off by a drop is sent again on a new connection, transparently, and reconnect listeners hear of it', async () => {
    let first = true;
    const { d, c } = await setup((f, p) => {
      if (first) {
        first = false;
        p.socket.destroy();
      } else p.reply(f, domPayload());
    });
    let reconnects = 0;
    c.onReconnect(() => reconnects++);
    expect(await c.lookupByName('work')).toEqual(DOM);
    expect([c.connectCount, d.peers.length, reconnects]).toEqual([2, 2, 1]);
  });

  test('a start cut off by a drop fails clearly (it may have happened); the next call reconnects', async () => {
    const { c } = await setup((f, p) => {
      if (f.proc === P.create.proc) p.socket.destroy();
      else p.reply(f, strPayload('TEST'));
    });
    const e = await c.create(DOM).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LibvirtConnectionLostError);
    expect((e as Error).message).toMatch(/^Lost the connection to libvirt at test\+unix:\/\/\/default\?socket=.* during DOMAIN_CREATE_WITH_FLAGS: .*; it may or may not have taken effect$/);
    expect(await c.getType()).toBe('TEST');
    expect(c.connectCount).toBe(2);
  });

  test('a drop while idle is noticed at once; a daemon that stays away gives one unreachable error per call', async () => {
    const { d, c } = await setup((f, p) => p.reply(f, strPayload('TEST')));
    const dropped = new Promise<Error>((resolve) => c.onDisconnect(resolve));
    await c.getType();
    await d.close();
    daemon = undefined;
    expect((await dropped).message).toMatch(/closed|socket/);
    expect(c.isOpen).toBe(false);
    await expect(c.getType()).rejects.toThrow(LibvirtUnreachableError);
  });

  test('a daemon that answers nothing, not even PINGs, is given up after the keepalive limit', async () => {
    const { c } = await setup(() => {}, { hung: true }, { keepalive: { intervalMs: 100, count: 2 } });
    const t0 = Date.now();
    const e = await c.defineXml('<domain/>').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LibvirtConnectionLostError);
    expect((e as Error).message).toMatch(/no answer from the daemon/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('a corrupt frame drops the connection instead of allocating', async () => {
    const { c } = await setup((_f, p) => p.socket.write(Buffer.from('00000005', 'hex')));
    await expect(c.defineXml('<domain/>')).rejects.toThrow(/corrupt data from the daemon: bad frame length 5/);
  });
});

test('an open, idle connection does not keep a command from exiting', () => {
  // the built library in a child process: open, call, and simply return
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
      import net from 'node:net';
      import fs from 'node:fs';
      import os from 'node:os';
      import path from 'node:path';
      const { LibvirtConnection } = await import(${JSON.stringify(path.join(ROOT, 'dist/lib/vmm/libvirt/connection.js'))});
      const P = await import(${JSON.stringify(path.join(ROOT, 'dist/lib/vmm/libvirt/protocol.js'))});
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idle-'));
      const sock = path.join(dir, 's');
      // a minimal daemon in the same process, unref'd so that only the client could keep it alive
      const server = net.createServer((s) => {
        const dec = new P.FrameDecoder();
        s.on('data', (b) => { for (const f of dec.push(b)) {
          const payload = f.proc === 66 ? Buffer.from('0000000100000000', 'hex') : f.proc === 60 ? Buffer.from('00000001', 'hex') : f.proc === 3 ? Buffer.from('0000000454455354', 'hex') : Buffer.alloc(0);
          s.write(P.encodeFrame({ prog: f.prog, vers: 1, proc: f.proc, type: 1, serial: f.serial, status: 0 }, payload));
        }});
        s.unref();
      }).listen(sock, async () => {
        server.unref();
        const c = new LibvirtConnection('test:///default?socket=' + sock);
        console.log(await c.getType());
      });
      `,
    ],
    { encoding: 'utf8', timeout: 10000 },
  );
  expect(child.stderr).toBe('');
  expect(child.stdout.trim()).toBe('TEST');
  expect(child.status).toBe(0);
});
