// The RPC codec against the bytes captured from libvirtd 9.0 (spec
// libvirt-rpc.md §7.1): our calls must encode to the same bytes, the
// daemon's replies must decode to the values it meant.
import { describe, expect, test } from '@jest/globals';
import { LibvirtNoDomainError, LibvirtOperationInvalidError, LibvirtRpcError, LibvirtUnsupportedError, LibvirtXmlError } from '../../lib/errors.js';
import { libvirtErrorFrom } from '../../lib/vmm/libvirt/errors.js';
import { P, decodeLifecycleMessage, decodeReply, encodeArgs, type DomainRef, type Procedure } from '../../lib/vmm/libvirt/procedures.js';
import {
  FrameDecoder,
  FrameError,
  KEEPALIVE_PONG,
  MessageStatus,
  MessageType,
  callFrame,
  decodeFrame,
  decodeRemoteError,
  encodeRemoteError,
  keepaliveFrame,
} from '../../lib/vmm/libvirt/protocol.js';
import { XdrError, XdrReader } from '../../lib/vmm/libvirt/xdr.js';

/** The spec's dump format: offset, then 4-byte groups. */
const hex = (dump: string): Buffer =>
  Buffer.from(
    dump
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).slice(1).join(''))
      .join(''),
    'hex',
  );

const TEST_DOM: DomainRef = { name: 'test', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', id: 1 };

const call = <A>(p: Procedure<A, unknown>, serial: number, args: A) => callFrame(p.proc, serial, encodeArgs(p, args));
const reply = <R>(p: Procedure<unknown, R>, bytes: Buffer): R => {
  const f = decodeFrame(bytes);
  expect(f.type).toBe(MessageType.Reply);
  expect(f.status).toBe(MessageStatus.Ok);
  expect(f.proc).toBe(p.proc);
  return decodeReply(p, f.payload);
};

describe('captured exchange on test:///default (§7.1)', () => {
  test('V1 AUTH_LIST', () => {
    expect(call(P.authList, 0, undefined)).toEqual(hex(`
0000  0000001c 20008086 00000001 00000042
0010  00000000 00000000 00000000`));
    expect(reply(P.authList, hex(`
0000  00000024 20008086 00000001 00000042
0010  00000001 00000000 00000000 00000001
0020  00000000`))).toEqual([0]);
  });

  test('V2 CONNECT_OPEN with a present name (00000001, not the go-libvirt padding hack)', () => {
    expect(call(P.open, 1, { name: 'test:///default', flags: 0 })).toEqual(hex(`
0000  00000038 20008086 00000001 00000001
0010  00000000 00000001 00000000 00000001
0020  0000000f 74657374 3a2f2f2f 64656661
0030  756c7400 00000000`));
    expect(reply(P.open, hex(`
0000  0000001c 20008086 00000001 00000001
0010  00000001 00000001 00000000`))).toBeUndefined();
  });

  test('V3 CONNECT_GET_LIB_VERSION: uhyper', () => {
    expect(call(P.getLibVersion, 2, undefined)).toEqual(hex(`
0000  0000001c 20008086 00000001 0000009d
0010  00000000 00000002 00000000`));
    expect(reply(P.getLibVersion, hex(`
0000  00000024 20008086 00000001 0000009d
0010  00000001 00000002 00000000 00000000
0020  00895440`))).toBe(9000000n);
  });

  test('V4 DOMAIN_LOOKUP_BY_NAME', () => {
    expect(call(P.lookupByName, 3, 'test')).toEqual(hex(`
0000  00000024 20008086 00000001 00000017
0010  00000000 00000003 00000000 00000004
0020  74657374`));
    expect(reply(P.lookupByName, hex(`
0000  00000038 20008086 00000001 00000017
0010  00000001 00000003 00000000 00000004
0020  74657374 6695eb01 f6a48304 79aa97f2
0030  502e193f 00000001`))).toEqual(TEST_DOM);
  });

  test('V5 DOMAIN_GET_STATE', () => {
    expect(call(P.getState, 4, { dom: TEST_DOM, flags: 0 })).toEqual(hex(`
0000  0000003c 20008086 00000001 000000d4
0010  00000000 00000004 00000000 00000004
0020  74657374 6695eb01 f6a48304 79aa97f2
0030  502e193f 00000001 00000000`));
    expect(reply(P.getState, hex(`
0000  00000024 20008086 00000001 000000d4
0010  00000001 00000004 00000000 00000001
0020  00000000`))).toEqual({ state: 1, reason: 0 });
  });

  test('V6 DOMAIN_GET_INFO: request of 56 bytes, reply with widened char/short', () => {
    expect(call(P.getInfo, 5, TEST_DOM).length).toBe(56);
    expect(reply(P.getInfo, hex(`
0000  0000003c 20008086 00000001 00000010
0010  00000001 00000005 00000000 00000001
0020  00000000 00800000 00000000 00200000
0030  00000002 18ea4441 b0a66998`))).toEqual({
      state: 1,
      maxMem: 8388608n,
      memory: 2097152n,
      nrVirtCpu: 2,
      cpuTime: 0x18ea4441b0a66998n,
    });
  });

  test('V7 CONNECT_LIST_ALL_DOMAINS (need_results=1)', () => {
    expect(call(P.listAllDomains, 6, 0)).toEqual(hex(`
0000  00000024 20008086 00000001 00000111
0010  00000000 00000006 00000000 00000001
0020  00000000`));
    expect(reply(P.listAllDomains, hex(`
0000  00000040 20008086 00000001 00000111
0010  00000001 00000006 00000000 00000001
0020  00000004 74657374 6695eb01 f6a48304
0030  79aa97f2 502e193f 00000001 00000001`))).toEqual([TEST_DOM]);
  });

  test('V8 error reply: the whole remote_error, mapped on its code', () => {
    expect(call(P.lookupByName, 7, 'nope')).toEqual(
      Buffer.concat([hex(`0000  00000024 20008086 00000001 00000017\n0010  00000000 00000007 00000000 00000004`), Buffer.from('nope')]),
    );
    const f = decodeFrame(hex(`
0000  00000070 20008086 00000001 00000017
0010  00000001 00000007 00000001 0000002a
0020  0000000c 00000001 00000010 446f6d61
0030  696e206e 6f742066 6f756e64 00000002
0040  00000000 00000001 00000010 446f6d61
0050  696e206e 6f742066 6f756e64 00000000
0060  00000000 ffffffff ffffffff 00000000`));
    expect(f.status).toBe(MessageStatus.Error);
    const e = decodeRemoteError(f.payload);
    expect(e).toEqual({
      code: 42,
      domain: 12,
      message: 'Domain not found',
      level: 2,
      dom: null,
      str1: 'Domain not found',
      str2: null,
      str3: null,
      int1: -1,
      int2: -1,
      net: null,
    });
    expect(encodeRemoteError(e)).toEqual(f.payload);
    const typed = libvirtErrorFrom(e);
    expect(typed).toBeInstanceOf(LibvirtNoDomainError);
    expect(typed.message).toBe('Domain not found');
    expect([typed.libvirtCode, typed.domain]).toEqual([42, 12]);
  });

  test('V9 event callback registration for all domains', () => {
    expect(call(P.eventRegisterAny, 8, { eventId: 0, dom: null })).toEqual(hex(`
0000  00000024 20008086 00000001 0000013c
0010  00000000 00000008 00000000 00000000
0020  00000000`));
    expect(reply(P.eventRegisterAny, hex(`
0000  00000020 20008086 00000001 0000013c
0010  00000001 00000008 00000000 00000000`))).toBe(0);
  });

  test('V10 DOMAIN_DESTROY: the lifecycle MESSAGE arrives before the REPLY, in one stream', () => {
    const stream = Buffer.concat([
      hex(`
0000  00000044 20008086 00000001 0000013e
0010  00000002 00000001 00000000 00000000
0020  00000004 74657374 6695eb01 f6a48304
0030  79aa97f2 502e193f ffffffff 00000005
0040  00000001`),
      hex(`
0000  0000001c 20008086 00000001 0000000c
0010  00000001 00000009 00000000`),
    ]);
    // split at every possible offset: frames must come out the same
    for (let cut = 1; cut < stream.length; cut += 7) {
      const d = new FrameDecoder();
      const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(frames.map((f) => [f.type, f.proc, f.serial])).toEqual([
        [MessageType.Message, 318, 1],
        [MessageType.Reply, 12, 9],
      ]);
      expect(decodeLifecycleMessage((frames[0] as { payload: Buffer }).payload)).toEqual({
        callbackId: 0,
        dom: { ...TEST_DOM, id: -1 },
        event: 5,
        detail: 1,
      });
    }
  });

  test('V11 CONNECT_CLOSE', () => {
    expect(call(P.close, 10, undefined)).toEqual(hex(`
0000  0000001c 20008086 00000001 00000002
0010  00000000 0000000a 00000000`));
  });

  test('V12 keepalive PING from the daemon, PONG in answer', () => {
    const ping = decodeFrame(hex(`
0000  0000001c 6b656570 00000001 00000001
0010  00000002 00000000 00000000`));
    expect([ping.prog, ping.proc, ping.type]).toEqual([0x6b656570, 1, MessageType.Message]);
    expect(keepaliveFrame(KEEPALIVE_PONG)).toEqual(hex(`
0000  0000001c 6b656570 00000001 00000002
0010  00000002 00000000 00000000`));
  });

  test('V13 CONNECT_GET_ALL_DOMAIN_STATS with typed parameters', () => {
    expect(call(P.allDomainStats, 2, { doms: [], stats: 1, flags: 0 })).toEqual(hex(`
0000  00000028 20008086 00000001 00000158
0010  00000000 00000002 00000000 00000000
0020  00000001 00000000`));
    const stats = reply(P.allDomainStats, hex(`
0000  00000070 20008086 00000001 00000158
0010  00000001 00000002 00000000 00000001
0020  00000004 74657374 6695eb01 f6a48304
0030  79aa97f2 502e193f 00000001 00000002
0040  0000000b 73746174 652e7374 61746500
0050  00000001 00000001 0000000c 73746174
0060  652e7265 61736f6e 00000001 00000000`));
    expect(stats).toEqual([{ dom: TEST_DOM, params: new Map([['state.state', 1], ['state.reason', 0]]) }]);
  });
});

describe('more checks of §7.1', () => {
  test('NODE_GET_INFO: model as 32 widened chars', () => {
    const model = [...'i686'].map((c) => c.charCodeAt(0).toString(16).padStart(8, '0')).join('') + '00000000'.repeat(28);
    const rest = '0000000000300000' + [16, 1400, 2, 2, 2, 2].map((n) => n.toString(16).padStart(8, '0')).join('');
    const payload = Buffer.from(model + rest, 'hex');
    expect(payload.length).toBe(160);
    expect(decodeReply(P.nodeGetInfo, payload)).toEqual({ model: 'i686', memory: 3145728n, cpus: 16, mhz: 1400, nodes: 2, sockets: 2, cores: 2, threads: 2 });
  });

  test('DOMAIN_UNDEFINE_FLAGS payload with a stale id', () => {
    const uuid = '0123456789abcdef0123456789abcdef';
    const args = encodeArgs(P.undefine, { dom: { name: 'probe-rpc-1', uuid, id: 4 }, flags: 0 });
    expect(args.toString('hex')).toBe('0000000b70726f62652d7270632d3100' + uuid + '0000000400000000');
  });

  test('an unknown procedure is an unsupported error, other RPC errors stay RPC', () => {
    const base = { domain: 7, level: 2, dom: null, str1: null, str2: null, str3: null, int1: -1, int2: -1, net: null };
    expect(libvirtErrorFrom({ ...base, code: 39, message: 'unknown procedure: 9999' })).toBeInstanceOf(LibvirtUnsupportedError);
    expect(libvirtErrorFrom({ ...base, code: 39, message: 'authentication required' })).toBeInstanceOf(LibvirtRpcError);
    expect(libvirtErrorFrom({ ...base, code: 55, message: 'domain is not running' })).toBeInstanceOf(LibvirtOperationInvalidError);
    expect(libvirtErrorFrom({ ...base, code: 35, message: 'XML error' })).toBeInstanceOf(LibvirtXmlError);
  });
});

describe('refusing bad input', () => {
  test('frame lengths below the header or above 32 MiB + 4 are corrupt streams', () => {
    const small = Buffer.from('0000001b', 'hex');
    expect(() => new FrameDecoder().push(small)).toThrow(FrameError);
    const huge = Buffer.from('04000000', 'hex');
    expect(() => new FrameDecoder().push(huge)).toThrow(FrameError);
  });

  test('a short payload, trailing bytes and bad optional flags are XDR errors', () => {
    expect(() => decodeReply(P.getState, Buffer.from('00000001', 'hex'))).toThrow(XdrError);
    expect(() => decodeReply(P.getState, Buffer.from('000000010000000000000000', 'hex'))).toThrow(XdrError);
    expect(() => new XdrReader(Buffer.from('00000002', 'hex')).optional((r) => r.int())).toThrow(XdrError);
    // an array count the payload cannot hold is refused before allocating
    expect(() => decodeReply(P.listAllDomains, Buffer.from('7fffffff', 'hex'))).toThrow(XdrError);
  });

  test('a UUID that is not one cannot be sent', () => {
    expect(() => encodeArgs(P.lookupByUuid, 'not-a-uuid')).toThrow(XdrError);
  });
});
