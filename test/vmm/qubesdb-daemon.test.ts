// SPDX-License-Identifier: GPL-2.0-or-later
// The QubesDB daemon started through bin/qubesdb-daemon, driven by the
// client library and by raw frames: commands, watches, the read-only
// socket, limits, error recovery, disconnection and reconnection, the
// daemon's life cycle (fork, pid file, SIGTERM, stale sockets) and
// ensureDaemon.
import fs from 'node:fs';
import net from 'node:net';
import { DisconnectedError, QubesDbError, QubesError } from '../../lib/errors.js';
import { QubesDbClient } from '../../lib/vmm/qubesdb/client.js';
import { ensureDaemon, stopDaemon } from '../../lib/vmm/qubesdb/ensure.js';
import { encodeFrame, FrameReader, MsgType } from '../../lib/vmm/qubesdb/protocol.js';
import { run } from '../helpers.js';
import { alive, qdbDir, RawConn, waitFor, type QdbDir } from './qubesdb-helpers.js';

let q: QdbDir;
const clients: QubesDbClient[] = [];
const open = async (name: string | null = 'work') => {
  const c = await QubesDbClient.open(name, { env: q.env });
  clients.push(c);
  return c;
};

beforeAll(() => {
  q = qdbDir();
  const r = q.start('work', 12);
  expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await q.cleanup();
});

describe('qubesdb-daemon start', () => {
  test('the command returns once both sockets accept connections; the pid file names the daemon', async () => {
    for (const ro of [false, true]) {
      const st = fs.statSync(q.sock('work', ro));
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o666);
    }
    const pid = q.pidOf('work');
    expect(pid).not.toBe(process.pid);
    expect(alive(pid)).toBe(true);
  });

  test('a second daemon for the same qube is refused', () => {
    const r = q.start('work', 12);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qubesdb-daemon: error: a QubesDB daemon is already running on .*qubesdb\.work\.sock\n$/);
  });

  test('--rw-socket-perms sets the mode of the read-write socket', async () => {
    expect(q.start('perm', 3, ['--rw-socket-perms=0660']).code).toBe(0);
    expect(fs.statSync(q.sock('perm')).mode & 0o777).toBe(0o660);
    expect(fs.statSync(q.sock('perm', true)).mode & 0o777).toBe(0o666);
    await q.stop('perm');
  });

  test('bad arguments are usage errors', () => {
    expect(run('qubesdb-daemon', ['x', 'work'], q.env)).toEqual({
      code: 2,
      stdout: '',
      stderr: "qubesdb-daemon: error: invalid remote domain id: 'x'\n",
    });
    expect(run('qubesdb-daemon', ['--rw-socket-perms=9', '1', 'w'], q.env).code).toBe(2);
    expect(run('qubesdb-daemon', ['1', '../etc'], q.env).code).toBe(1);
  });
});

describe('QubesDB client against the daemon', () => {
  test('write, read, missing key, replace, rm', async () => {
    const c = await open();
    await c.write('/t1/name', 'work');
    expect(await c.read('/t1/name')).toBe('work');
    expect(await c.read('/t1/missing')).toBeNull();
    await c.write('/t1/name', '');
    expect(await c.read('/t1/name')).toBe('');
    await c.rm('/t1/name');
    expect(await c.read('/t1/name')).toBeNull();
    await expect(c.rm('/t1/name')).resolves.toBeUndefined();
  });

  test('list and multiread answer in path order; rm of a subtree keeps the key itself', async () => {
    const c = await open();
    const entries: [string, string][] = [
      ['/t2/b', '2'],
      ['/t2/a/x', '1'],
      ['/t2/a', '0'],
      ['/t2/ab', '3'],
    ];
    for (const [p, v] of entries) await c.write(p, v);
    expect(await c.list('/t2/')).toEqual(['/t2/a', '/t2/a/x', '/t2/ab', '/t2/b']);
    expect(await c.list('/t2/a')).toEqual(['/t2/a', '/t2/a/x', '/t2/ab']);
    expect([...(await c.multiread('/t2/a/'))]).toEqual([['/t2/a/x', '1']]);
    await c.rm('/t2/a/');
    expect(await c.list('/t2/')).toEqual(['/t2/a', '/t2/ab', '/t2/b']);
    expect(await c.list('/t2/none/')).toEqual([]);
  });

  test('binary values come back byte for byte', async () => {
    const c = await open();
    const v = Buffer.from([1, 2, 0xff, 0x80, 0x7f, 0x20]);
    await c.write('/t3/bin', v);
    expect((await c.readBytes('/t3/bin'))?.equals(v)).toBe(true);
  });

  test('watches: exact and subtree, one event per matching watch, for writes and removals by any client', async () => {
    const watcher = await open();
    const writer = await open();
    await watcher.watch('/t4/');
    await watcher.watch('/t4/a');
    await writer.write('/t4/a', 'x');
    await writer.write('/t4/b', 'y');
    await writer.write('/t5', 'z');
    await writer.rm('/t4/');
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await watcher.readWatch());
    expect(got.sort()).toEqual(['/t4/', '/t4/a', '/t4/a', '/t4/b']);
    await watcher.unwatch('/t4/');
    await watcher.unwatch('/t4/a');
    await expect(watcher.unwatch('/t4/never')).resolves.toBeUndefined();
    await writer.write('/t4/c', '1');
    await writer.write('/t6', 'sync');
    // no event for /t4/c: the watch on /t6 below would otherwise not be first
    await watcher.watch('/t6');
    await writer.write('/t6', 'again');
    expect(await watcher.readWatch()).toBe('/t6');
  });

  test('a watched path need not exist; a client sees its own writes', async () => {
    const c = await open();
    await c.watch('/t7/later');
    await c.write('/t7/later', 'now');
    expect(await c.readWatch()).toBe('/t7/later');
  });

  test('values of 3071 bytes pass, 3072 are refused by the daemon (the connection stays), 3073 by the client', async () => {
    const c = await open();
    await c.write('/t8/max', 'a'.repeat(3071));
    expect((await c.read('/t8/max'))?.length).toBe(3071);
    await expect(c.write('/t8/over', 'a'.repeat(3072))).rejects.toThrow(QubesDbError);
    await expect(c.write('/t8/over', 'a'.repeat(3073))).rejects.toThrow(/longer than 3072 bytes/);
    expect(await c.read('/t8/over')).toBeNull();
    expect(await c.read('/t8/max')).not.toBeNull();
  });

  test('paths the client refuses are not sent', async () => {
    const c = await open();
    await expect(c.read('relative')).rejects.toThrow("QubesDB path must start with '/': 'relative'");
    await expect(c.write('/' + 'x'.repeat(63), 'v')).rejects.toThrow(/longer than 63 bytes/);
  });

  test('a write to a path ending in / is refused and the daemon drops the client; the next command reconnects', async () => {
    const c = await open();
    await expect(c.write('/t9/dir/', 'v')).rejects.toThrow('the QubesDB daemon of work refused to write /t9/dir/');
    await c.write('/t9/file', 'v');
    expect(await c.read('/t9/file')).toBe('v');
  });

  test('a path with characters outside the daemon set, or a NUL in a value, gets an error', async () => {
    const c = await open();
    await expect(c.write('/t10/a b', 'v')).rejects.toThrow(QubesDbError);
    await expect(c.read('/t10/a*')).rejects.toThrow(QubesDbError);
    await expect(c.write('/t10/nul', Buffer.from('a\0b'))).rejects.toThrow(QubesDbError);
    expect(await c.list('/t10/')).toEqual([]);
  });
});

describe('QubesDB daemon, raw frames', () => {
  test('answers use the request path; LIST and MULTIREAD end with an empty-path frame', async () => {
    const r = await RawConn.open(q.sock('work'));
    r.send(MsgType.CMD_WRITE, '/r1/k', 'val');
    r.send(MsgType.CMD_READ, '/r1/k');
    r.send(MsgType.CMD_READ, '/r1/none');
    r.send(MsgType.CMD_LIST, '/r1/');
    r.send(MsgType.CMD_MULTIREAD, '/r1/');
    const f = await r.take(7);
    expect(f.map((x) => [x.type, x.path, x.data.toString()])).toEqual([
      [MsgType.RESP_OK, '/r1/k', ''],
      [MsgType.RESP_READ, '/r1/k', 'val'],
      [MsgType.RESP_ERROR_NOENT, '/r1/none', ''],
      [MsgType.RESP_LIST, '/r1/k', ''],
      [MsgType.RESP_LIST, '', ''],
      [MsgType.RESP_MULTIREAD, '/r1/k', 'val'],
      [MsgType.RESP_MULTIREAD, '', ''],
    ]);
    r.close();
  });

  test('an unknown type or oversized data gets RESP_ERROR and the connection stays usable', async () => {
    const r = await RawConn.open(q.sock('work'));
    r.send(42, '/r2/x');
    const big = encodeFrame(MsgType.CMD_WRITE, '/r2/big', Buffer.alloc(5000, 0x41));
    r.sendRaw(big);
    r.send(MsgType.RESP_OK, '/r2/x');
    r.send(MsgType.CMD_READ, '/r2/big');
    const f = await r.take(4);
    expect(f.map((x) => x.type)).toEqual([MsgType.RESP_ERROR, MsgType.RESP_ERROR, MsgType.RESP_ERROR, MsgType.RESP_ERROR_NOENT]);
    expect(r.closed).toBe(false);
    r.close();
  });

  test('a READ carrying data makes the daemon drop the client', async () => {
    const r = await RawConn.open(q.sock('work'));
    r.send(MsgType.CMD_READ, '/r3', 'data');
    await r.waitClosed();
  });

  test('the read-only socket serves reads and watches and refuses WRITE and RM', async () => {
    const c = await open();
    await c.write('/r4/k', 'v');
    const r = await RawConn.open(q.sock('work', true));
    r.send(MsgType.CMD_WRITE, '/r4/k', 'changed');
    r.send(MsgType.CMD_RM, '/r4/k');
    r.send(MsgType.CMD_READ, '/r4/k');
    r.send(MsgType.CMD_WATCH, '/r4/k');
    const f = await r.take(4);
    expect(f.map((x) => [x.type, x.data.toString()])).toEqual([
      [MsgType.RESP_ERROR, ''],
      [MsgType.RESP_ERROR, ''],
      [MsgType.RESP_READ, 'v'],
      [MsgType.RESP_OK, ''],
    ]);
    await c.write('/r4/k', 'w');
    expect((await r.take(1))[0]).toMatchObject({ type: MsgType.RESP_WATCH, path: '/r4/k', dataLen: 0 });
    r.close();
  });

  test('the OK of a write reaches the writer before the watch event it causes', async () => {
    const r = await RawConn.open(q.sock('work'));
    r.send(MsgType.CMD_WATCH, '/r5/');
    r.send(MsgType.CMD_WRITE, '/r5/a', '1');
    const f = await r.take(3);
    expect(f.map((x) => [x.type, x.path])).toEqual([
      [MsgType.RESP_OK, '/r5/'],
      [MsgType.RESP_OK, '/r5/a'],
      [MsgType.RESP_WATCH, '/r5/a'],
    ]);
    r.close();
  });
});

describe('client protocol handling against a scripted server', () => {
  test('a watch event in the middle of a MULTIREAD answer is queued, not taken for an entry', async () => {
    const file = `${q.dir}/qubesdb.scripted.sock`;
    const server = net.createServer((s) => {
      const reader = new FrameReader();
      s.on('data', (chunk: Buffer) => {
        for (const req of reader.push(chunk)) {
          if (req.type !== MsgType.CMD_MULTIREAD) continue;
          s.write(
            Buffer.concat([
              encodeFrame(MsgType.RESP_MULTIREAD, '/m/a', '1'),
              encodeFrame(MsgType.RESP_WATCH, '/m/changed'),
              encodeFrame(MsgType.RESP_MULTIREAD, '/m/b', '2'),
              encodeFrame(MsgType.RESP_WATCH, '/m/other'),
              encodeFrame(MsgType.RESP_MULTIREAD, ''),
            ]),
          );
        }
      });
    });
    await new Promise<void>((r) => server.listen(file, r));
    const c = await QubesDbClient.open('scripted', { env: q.env });
    try {
      expect([...(await c.multiread('/m/'))]).toEqual([
        ['/m/a', '1'],
        ['/m/b', '2'],
      ]);
      expect(await c.readWatch()).toBe('/m/changed');
      expect(await c.readWatch()).toBe('/m/other');
    } finally {
      c.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('no daemon, lost daemon', () => {
  test('opening the client of a qube without a daemon raises DisconnectedError', async () => {
    const err = await QubesDbClient.open('ghost', { env: q.env }).catch((e) => e);
    expect(err).toBeInstanceOf(DisconnectedError);
    expect(err.message).toMatch(/^the QubesDB daemon of ghost is not running \(.*qubesdb\.ghost\.sock: ENOENT\)$/);
  });

  test('a socket file nobody listens on (daemon killed) is not running either, and a new daemon replaces it', async () => {
    expect(q.start('stale', 4).code).toBe(0);
    process.kill(q.pidOf('stale'), 'SIGKILL');
    await waitFor(() => !alive(q.pidOf('stale')));
    expect(fs.existsSync(q.sock('stale'))).toBe(true);
    const err = await QubesDbClient.open('stale', { env: q.env }).catch((e) => e);
    expect(err).toBeInstanceOf(DisconnectedError);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(q.start('stale', 4).code).toBe(0);
    const c = await open('stale');
    await c.write('/x', '1');
    await q.stop('stale');
  });

  test('when the daemon stops: a waiting readWatch and the next command fail with DisconnectedError; a new daemon is reached again', async () => {
    expect(q.start('life', 5).code).toBe(0);
    const c = await open('life');
    await c.write('/before', '1');
    await c.watch('/w');
    const waiting = expect(c.readWatch()).rejects.toThrow(DisconnectedError);
    await q.stop('life');
    await waiting;
    await expect(c.read('/before')).rejects.toThrow(DisconnectedError);
    expect(q.start('life', 5).code).toBe(0);
    expect(await c.read('/before')).toBeNull(); // a new daemon starts empty
    await c.write('/after', '2');
    expect(await c.read('/after')).toBe('2');
    await q.stop('life');
  });

  test('SIGTERM: the daemon exits and removes its sockets and pid file', async () => {
    expect(q.start('term', 6).code).toBe(0);
    const c = await open('term');
    await c.write('/k', 'v');
    await q.stop('term');
    for (const f of [q.sock('term'), q.sock('term', true), `${q.dir}/qubesdb.term.pid`]) expect(fs.existsSync(f)).toBe(false);
  });

  test('the client falls back to the read-only socket', async () => {
    expect(q.start('rofb', 8).code).toBe(0);
    const c0 = await open('rofb');
    await c0.write('/k', 'v');
    fs.rmSync(q.sock('rofb'));
    const c = await open('rofb');
    expect(await c.read('/k')).toBe('v');
    await expect(c.write('/k', 'w')).rejects.toThrow('the QubesDB daemon of rofb refused to write /k');
    await q.stop('rofb');
  });
});

describe('dom0 daemon and the local socket', () => {
  test('a daemon for remote domain 0 named dom0 also answers on the local socket names', async () => {
    expect(q.start('dom0', 0).code).toBe(0);
    expect(fs.readlinkSync(q.sock(null))).toBe('qubesdb.dom0.sock');
    expect(fs.readlinkSync(q.sock(null, true))).toBe('qubesdb.dom0.ro.sock');
    const viaName = await open('dom0');
    await viaName.write('/dom0-key', 'x');
    const local = await open(null);
    expect(await local.read('/dom0-key')).toBe('x');
    await q.stop('dom0');
    expect(fs.existsSync(q.sock(null))).toBe(false);
  });

  test('a daemon for another domain id leaves the local names alone', async () => {
    expect(q.start('other', 9).code).toBe(0);
    expect(fs.existsSync(q.sock(null))).toBe(false);
    await q.stop('other');
  });
});

describe('ensureDaemon', () => {
  test('starts a daemon when none answers, and only then', async () => {
    expect(await ensureDaemon('ens', 11, { env: q.env })).toBe(true);
    const pid = q.pidOf('ens');
    expect(await ensureDaemon('ens', 11, { env: q.env })).toBe(false);
    expect(q.pidOf('ens')).toBe(pid);
    const c = await open('ens');
    await c.write('/ok', '1');
    c.close();
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !fs.existsSync(q.sock('ens')));
  });

  test('stopDaemon stops a running daemon; a leftover pid file is only removed', async () => {
    expect(await ensureDaemon('stp', 13, { env: q.env })).toBe(true);
    const pid = q.pidOf('stp');
    expect(await stopDaemon('stp', { env: q.env })).toBe(true);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(q.sock('stp'))).toBe(false);
    expect(await stopDaemon('stp', { env: q.env })).toBe(false);
    // a pid file nobody's socket backs (here: naming this very test process) signals nobody
    fs.writeFileSync(`${q.dir}/qubesdb.stp.pid`, `${process.pid}\n`);
    expect(await stopDaemon('stp', { env: q.env })).toBe(false);
    expect(fs.existsSync(`${q.dir}/qubesdb.stp.pid`)).toBe(false);
  });

  test('a daemon command that fails gives "Cannot execute qubesdb-daemon"', async () => {
    const err = await ensureDaemon('never', 3, { env: { ...q.env, QUBESDB_DAEMON: '/bin/false' } }).catch((e) => e);
    expect(err).toBeInstanceOf(QubesError);
    expect(err.message).toMatch(/^Cannot execute qubesdb-daemon: /);
  });
});
