// SPDX-License-Identifier: GPL-2.0-or-later
// The QubesDB codec and the daemon's database, without sockets: exact bytes
// of frames in the qdb_hdr layout (shared/spec/vmm.md §4.3), stream
// splitting, path rules, sort order, subtree removal and watch matching.
import { QdbDatabase, WatchRegistry, watchMatches } from '../../lib/vmm/qubesdb/database.js';
import {
  clientPathProblem,
  daemonAcceptsPath,
  decodeHeader,
  encodeFrame,
  FrameReader,
  HEADER_SIZE,
  isEntryPath,
  MsgType,
  valueAccepted,
} from '../../lib/vmm/qubesdb/protocol.js';

/** The header as the C struct lays it out on x86-64 (little-endian). */
function cHeader(type: number, path: string, dataLen: number): Buffer {
  const b = Buffer.alloc(72);
  b[0] = type;
  Buffer.from(path, 'latin1').copy(b, 1);
  b.writeUInt32LE(dataLen, 68);
  return b;
}

describe('QubesDB frames', () => {
  test('message type numbers are those of enum qdb_msg', () => {
    expect(MsgType).toEqual({
      CMD_READ: 0,
      CMD_WRITE: 1,
      CMD_MULTIREAD: 2,
      CMD_LIST: 3,
      CMD_RM: 4,
      CMD_WATCH: 5,
      CMD_UNWATCH: 6,
      RESP_OK: 7,
      RESP_ERROR_NOENT: 8,
      RESP_ERROR: 9,
      RESP_READ: 10,
      RESP_MULTIREAD: 11,
      RESP_LIST: 12,
      RESP_WATCH: 13,
    });
    expect(HEADER_SIZE).toBe(72);
  });

  test('a WRITE frame, byte for byte', () => {
    const f = encodeFrame(MsgType.CMD_WRITE, '/qubes-ip', '10.137.0.5');
    expect(f.length).toBe(72 + 10);
    const expected = Buffer.concat([cHeader(1, '/qubes-ip', 10), Buffer.from('10.137.0.5')]);
    expect(f.equals(expected)).toBe(true);
    expect(f.subarray(0, 12).toString('hex')).toBe('012f71756265732d697000'.padEnd(24, '0'));
    expect(f.subarray(64, 72).toString('hex')).toBe('000000000a000000');
  });

  test('a READ request and the list terminator carry no data', () => {
    expect(encodeFrame(MsgType.CMD_READ, '/name').equals(cHeader(0, '/name', 0))).toBe(true);
    expect(encodeFrame(MsgType.RESP_LIST, '').equals(cHeader(12, '', 0))).toBe(true);
  });

  test('a path of 63 bytes fills the field up to its terminator; longer ones are cut', () => {
    const p63 = '/' + 'a'.repeat(62);
    const f = encodeFrame(MsgType.CMD_READ, p63);
    expect(f[64]).toBe(0);
    expect(decodeHeader(f).path).toBe(p63);
    expect(decodeHeader(encodeFrame(MsgType.CMD_READ, p63 + 'xyz')).path).toBe(p63);
  });

  test('decoding takes the last byte of the path field as terminator, as the daemon does', () => {
    const b = cHeader(0, '', 0);
    b.fill(0x61, 1, 65); // 64 'a', no NUL
    expect(decodeHeader(b).path).toBe('a'.repeat(63));
  });

  test('round trip of every type with binary data', () => {
    const data = Buffer.from([0x01, 0xff, 0x7f, 0x20, 0x80]);
    for (const type of Object.values(MsgType)) {
      const f = encodeFrame(type, '/x/y', data);
      const [got] = new FrameReader().push(f);
      expect(got).toEqual({ type, path: '/x/y', dataLen: 5, data });
    }
  });

  test('frames split at any byte and glued together come out whole and in order', () => {
    const stream = Buffer.concat([
      encodeFrame(MsgType.RESP_MULTIREAD, '/a', 'one'),
      encodeFrame(MsgType.RESP_WATCH, '/w'),
      encodeFrame(MsgType.RESP_MULTIREAD, '/b', Buffer.alloc(3071, 0x41)),
      encodeFrame(MsgType.RESP_MULTIREAD, ''),
    ]);
    for (const step of [1, 7, 71, 72, 73, 500, stream.length]) {
      const r = new FrameReader();
      const out = [];
      for (let i = 0; i < stream.length; i += step) out.push(...r.push(stream.subarray(i, i + step)));
      expect(out.map((f) => [f.type, f.path, f.data.length])).toEqual([
        [11, '/a', 3],
        [13, '/w', 0],
        [11, '/b', 3071],
        [11, '', 0],
      ]);
    }
  });

  test('data of 3072 bytes or more is skipped unbuffered and flagged', () => {
    const r = new FrameReader();
    const big = cHeader(1, '/big', 1 << 20);
    const out = r.push(big);
    expect(out).toEqual([{ type: 1, path: '/big', dataLen: 1 << 20, data: Buffer.alloc(0), oversized: true }]);
    for (let i = 0; i < 16; i++) expect(r.push(Buffer.alloc(1 << 16))).toEqual([]);
    expect(r.push(encodeFrame(MsgType.CMD_READ, '/next')).map((f) => f.path)).toEqual(['/next']);
  });

  test('path and value rules', () => {
    expect(daemonAcceptsPath('/qubes-firewall/10.137.0.5/0000')).toBe(true);
    expect(daemonAcceptsPath('/a:b@c_d-e.f')).toBe(true);
    expect(daemonAcceptsPath('')).toBe(true);
    expect(daemonAcceptsPath('/a b')).toBe(false);
    expect(daemonAcceptsPath('/a*')).toBe(false);
    expect(daemonAcceptsPath('-x')).toBe(false);
    expect(clientPathProblem('/ok')).toBeNull();
    expect(clientPathProblem('rel')).toMatch(/must start with/);
    expect(clientPathProblem('/' + 'a'.repeat(63))).toMatch(/longer than 63/);
    expect(isEntryPath('/a/b')).toBe(true);
    expect(isEntryPath('/a/')).toBe(false);
    expect(isEntryPath('a')).toBe(false);
    expect(valueAccepted(Buffer.alloc(3071, 0x41))).toBe(true);
    expect(valueAccepted(Buffer.alloc(3072, 0x41))).toBe(false);
    expect(valueAccepted(Buffer.from('a\0b'))).toBe(false);
  });
});

describe('QubesDB database', () => {
  const db = () => {
    const d = new QdbDatabase();
    for (const p of ['/b', '/a/2', '/a', '/a/10', '/a/1', '/ab', '/c/x']) d.write(p, Buffer.from(p));
    return d;
  };

  test('entries are kept in byte order; list and multiread answer in it', () => {
    expect(db().list('/')).toEqual(['/a', '/a/1', '/a/10', '/a/2', '/ab', '/b', '/c/x']);
    expect(db().list('/a')).toEqual(['/a', '/a/1', '/a/10', '/a/2', '/ab']);
    expect(db().list('/a/')).toEqual(['/a/1', '/a/10', '/a/2']);
    expect(db().multiread('/a/').map(([p, v]) => [p, v.toString()])).toEqual([
      ['/a/1', '/a/1'],
      ['/a/10', '/a/10'],
      ['/a/2', '/a/2'],
    ]);
  });

  test('the empty prefix dumps everything in reverse order', () => {
    expect(db().multiread('').map(([p]) => p)).toEqual(['/c/x', '/b', '/ab', '/a/2', '/a/10', '/a/1', '/a']);
    expect(db().list('')).toEqual(['/a', '/a/1', '/a/10', '/a/2', '/ab', '/b', '/c/x']);
  });

  test('rm of a key, of a subtree (the key itself stays), of nothing', () => {
    const d = db();
    expect(d.remove('/a/')).toBe(true);
    expect(d.list('/')).toEqual(['/a', '/ab', '/b', '/c/x']);
    expect(d.remove('/a/')).toBe(false);
    expect(d.remove('/a')).toBe(true);
    expect(d.remove('/nothing')).toBe(false);
    expect(d.list('/')).toEqual(['/ab', '/b', '/c/x']);
  });

  test('a write replaces the value; paths that cannot name an entry are refused', () => {
    const d = db();
    d.write('/b', Buffer.from('new'));
    expect(d.read('/b')?.toString()).toBe('new');
    expect(d.size).toBe(7);
    expect(d.write('/x/', Buffer.alloc(0))).toBe(false);
    expect(d.write('x', Buffer.alloc(0))).toBe(false);
    expect(d.size).toBe(7);
  });

  test('watch matching: exact path, or a subtree with a trailing slash', () => {
    expect(watchMatches('/a', '/a')).toBe(true);
    expect(watchMatches('/a', '/a/b')).toBe(false);
    expect(watchMatches('/a/', '/a/b')).toBe(true);
    expect(watchMatches('/a/', '/a/')).toBe(true);
    expect(watchMatches('/a/', '/a')).toBe(false);
    expect(watchMatches('/', '/anything')).toBe(true);
  });

  test('each watch fires once, newest first; a client loses its watches with it', () => {
    const w = new WatchRegistry<string>();
    w.add('/a/', 'c1');
    w.add('/a/b', 'c2');
    w.add('/a/', 'c1');
    expect(w.fired('/a/b')).toEqual(['c1', 'c2', 'c1']);
    expect(w.remove('/a/', 'c1')).toBe(true);
    expect(w.fired('/a/b')).toEqual(['c2', 'c1']);
    expect(w.remove('/zzz', 'c1')).toBe(false);
    w.removeClient('c1');
    expect(w.fired('/a/b')).toEqual(['c2']);
  });
});
