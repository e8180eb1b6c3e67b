// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The wire format at the byte level, against a real daemon: the cases of
 * the reference's qubes/tests/api.py (empty request, no NUL, too long, bad
 * destination type, unknown method, arg or payload where none is allowed,
 * missing ones, wrong destination) and what the daemon answers or drops.
 */
import fs from 'node:fs';
import { methodTable } from '../../lib/daemon/method-table.js';
import { request, shown, startDaemon, type Daemon } from './daemon-env.js';

let d: Daemon;
beforeAll(async () => {
  d = await startDaemon('qubes-xml/q10.xml');
});
afterAll(async () => {
  const code = await d.stop();
  expect([code, d.log()]).toEqual([0, expect.stringContaining("caught SIGTERM, exiting")]);
  fs.rmSync(d.store.dir, { recursive: true, force: true });
});

describe('framing errors: the connection is dropped without a reply', () => {
  test.each([
    ['an empty request', Buffer.alloc(0)],
    ['no NUL after the header', Buffer.from('admin.vm.List dom0 name dom0')],
    ['too few header words', Buffer.from('admin.vm.List dom0 dom0\0')],
    ['a destination type other than name', Buffer.from('admin.vm.List dom0 uuid dom0\0')],
    ['more than 65536 bytes', Buffer.concat([Buffer.from('admin.vm.List dom0 name dom0\0'), Buffer.alloc(65536 - 28, 0x41)])],
    ['a method name that is not ASCII', Buffer.from('admin.vm.Lis\xff dom0 name dom0\0', 'latin1')],
  ])('%s', async (_what, req) => {
    expect(await d.raw(req)).toEqual(Buffer.alloc(0));
  });

  test('65536 bytes exactly is a request (answered)', async () => {
    const head = 'admin.vm.notes.Set dom0 name sys-net\0';
    const reply = await d.raw(Buffer.concat([Buffer.from(head), Buffer.alloc(65536 - head.length, 0x61)]));
    expect(shown(reply)).toBe('0\\0');
  });
});

describe('error replies', () => {
  test.each([
    ['unknown method', request('admin.no.Such', 'dom0'), "2\\0ProtocolError\\0\\0no such method: 'admin.no.Such'\\0"],
    ['argument where none is allowed', request('admin.vm.List', 'dom0', 'x'), '2\\0ProtocolError\\0\\0unexpected argument\\0'],
    ['missing argument', request('admin.vm.property.Get', 'sys-net'), '2\\0ProtocolError\\0\\0expected an argument\\0'],
    ['payload where none is allowed', request('admin.vm.List', 'dom0', '', 'x'), '2\\0ProtocolError\\0\\0unexpected payload\\0'],
    ['missing payload', request('admin.label.Create', 'dom0', 'pink'), '2\\0ProtocolError\\0\\0expected payload\\0'],
    ['destination must be dom0', request('admin.vmclass.List', 'sys-net'), '2\\0ProtocolError\\0\\0expected destination to be AdminVM\\0'],
    ['destination must not be dom0', request('admin.vm.notes.Get', 'dom0'), '2\\0ProtocolError\\0\\0expected destination to not be AdminVM\\0'],
    ['unknown destination', request('admin.vm.List', 'nosuchvm'), "2\\0QubesVMNotFoundError\\0\\0No such domain: 'nosuchvm'\\0"],
    ['unknown source', request('admin.vm.List', 'dom0', '', '', 'nosuchvm'), "2\\0QubesVMNotFoundError\\0\\0No such domain: 'nosuchvm'\\0"],
    ['malformed uuid', request('admin.vm.List', 'uuid:1234'), "2\\0QubesVMInvalidUUIDError\\0\\0VM UUID is not valid: '1234'\\0"],
    ['a call from a qube (no policy allows it)', request('admin.vm.List', 'dom0', '', '', 'sys-net'), '2\\0PermissionDenied\\0\\0\\0'],
  ])('%s', async (_what, req, expected) => {
    expect(shown(await d.raw(req))).toBe(expected);
  });

  test('a method declared but not implemented answers as an unknown one', async () => {
    const declared = [...methodTable().values()].find((m) => !m.handler);
    if (!declared) return; // every method has its handler
    expect(shown(await d.raw(request(declared.name, 'sys-net')))).toBe(`2\\0ProtocolError\\0\\0no such method: '${declared.name}'\\0`);
  });

  test('refusals of malformed and forbidden calls are logged, as the reference logs them', () => {
    expect(d.log()).toContain(`qubesd: warning: failed call "admin.no.Such"+"" ("dom0" → "dom0") with payload of 0 bytes: ProtocolError: no such method: 'admin.no.Such'\n`);
    expect(d.log()).toContain(`qubesd: warning: failed call "admin.vm.List"+"" ("sys-net" → "dom0") with payload of 0 bytes: PermissionDenied: \n`);
    // a library error is the caller's business: not logged
    expect(d.log()).not.toContain('QubesVMNotFoundError');
  });

  test('keyword adminvm is dom0; a qube by uuid', async () => {
    const list = shown(await d.raw(Buffer.from('admin.vm.List dom0 keyword adminvm\0')));
    expect(list.startsWith('0\\0dom0 class=AdminVM state=Running uuid=00000000-0000-0000-0000-000000000000\n')).toBe(true);
    const uuid = /sys-net class=AppVM state=Halted uuid=([0-9a-f-]{36})/.exec(list)?.[1] as string;
    expect(shown(await d.call('admin.vm.List', `uuid:${uuid}`))).toBe(`0\\0sys-net class=AppVM state=Halted uuid=${uuid}\n`);
  });

  test('payloads with NUL and invalid UTF-8 are refused in one reply, nothing written', async () => {
    const before = d.store.read();
    expect(shown(await d.call('admin.vm.feature.Set', 'sys-net', 'f', Buffer.from([0x61, 0, 0x62])))).toBe(
      '2\\0ProtocolError\\0\\0f value contains illegal characters\\0',
    );
    expect(shown(await d.call('admin.vm.property.Set', 'sys-net', 'kernelopts', Buffer.from([0xc3, 0x28])))).toBe(
      '2\\0QubesValueError\\0\\0Non-ASCII bytes in property value\\0',
    );
    expect(d.store.read()).toBe(before);
  });
});
