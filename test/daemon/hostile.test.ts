// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Hostile clients against a real daemon: 1000 connections dropped in the
 * middle of their request, a client that never finishes its request
 * (dropped after the request timeout), payloads with NUL bytes and invalid
 * UTF-8. The daemon keeps answering, and holds as many descriptors after as
 * before (counted in /proc/PID/fd).
 */
import fs from 'node:fs';
import net from 'node:net';
import { shown, startDaemon, type Daemon } from './daemon-env.js';

let d: Daemon;
beforeAll(async () => {
  d = await startDaemon('qubes-xml/q10.xml', { env: { QUBESD_REQUEST_TIMEOUT_MS: '500' } });
});
afterAll(async () => {
  expect(await d.stop()).toBe(0);
  fs.rmSync(d.store.dir, { recursive: true, force: true });
});

const fds = () => fs.readdirSync(`/proc/${d.proc.pid}/fd`).length;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's descriptor count once it holds still (a connection just answered may still be closing). */
async function stableFds(): Promise<number> {
  let n = fds();
  for (let same = 0; same < 3; ) {
    await pause(50);
    const m = fds();
    same = m === n ? same + 1 : 0;
    n = m;
  }
  return n;
}

/** The count once it is back to `before` or below (within `ms`). */
async function settled(before: number, ms = 5000): Promise<number> {
  const until = Date.now() + ms;
  let n = fds();
  while (n > before && Date.now() < until) {
    await pause(50);
    n = fds();
  }
  return n;
}

const listed = async () => shown(await d.call('admin.vm.List', 'sys-net'));

test('1000 connections dropped mid-request; the daemon keeps serving and leaks nothing', async () => {
  expect(await listed()).toMatch(/^0\\0sys-net class=AppVM state=Halted uuid=/);
  const before = await stableFds();
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const c = net.connect(d.socket, () => {
              c.write(i % 2 ? 'admin.vm.property.Get+la' : Buffer.from('admin.vm.List dom0 name dom0\0payload'));
              setImmediate(() => c.destroy());
            });
            c.on('error', () => undefined);
            c.on('close', () => resolve());
          }),
      ),
    );
  }
  expect(await listed()).toMatch(/^0\\0sys-net class=AppVM/);
  expect(await settled(before)).toBeLessThanOrEqual(before);
}, 60000);

test('a client that never sends EOF is dropped after the request timeout', async () => {
  const before = await stableFds();
  const started = Date.now();
  const closedAfter = await new Promise<number>((resolve) => {
    const c = net.connect(d.socket, () => c.write('admin.vm.List dom0 name dom0\0'));
    c.on('error', () => undefined);
    c.on('close', () => resolve(Date.now() - started));
  });
  expect(closedAfter).toBeGreaterThanOrEqual(450);
  expect(closedAfter).toBeLessThan(5000);
  expect(d.log()).toContain('request not finished within the timeout');
  expect(await listed()).toMatch(/^0\\0sys-net class=AppVM/);
  expect(await settled(before)).toBeLessThanOrEqual(before);
});

test('payloads with NUL bytes and invalid UTF-8: one error reply each, nothing written, still serving', async () => {
  const before = d.store.read();
  const fdsBefore = await stableFds();
  const bad = [Buffer.from([0, 0, 0]), Buffer.from([0xff, 0xfe, 0x00, 0x41]), Buffer.from('a\0b\ud800', 'utf8'), Buffer.from([0xc3])];
  for (const p of bad) {
    expect(shown(await d.call('admin.vm.property.Set', 'vm0001', 'kernelopts', p))).toMatch(/^2\\0Qubes\w*Error\\0\\0/);
    expect(shown(await d.call('admin.vm.feature.Set', 'vm0001', 'f', p))).toMatch(/^2\\0ProtocolError\\0\\0/);
    expect(shown(await d.call('admin.label.Create', 'dom0', 'pink', p))).toMatch(/^2\\0QubesInvalidLabelValueError\\0\\0/);
    expect(shown(await d.call('admin.vm.firewall.Set', 'vm0001', '', p))).toMatch(/^2\\0\w+\\0\\0/);
  }
  expect(shown(await d.call('admin.vm.notes.Set', 'vm0001', '', Buffer.from([0xff, 0xfe])))).toMatch(/^2\\0QubesValueError\\0\\0Notes must be UTF-8 text\\0$/);
  expect(d.store.read()).toBe(before);
  expect(await listed()).toMatch(/^0\\0sys-net class=AppVM/);
  expect(await settled(fdsBefore)).toBeLessThanOrEqual(fdsBefore);
});
