// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.volume.Import and ImportWithSize as qrexec runs them: the
 * /etc/qubes-rpc script (admin-api/qubes-rpc/) with the caller's data on
 * its standard input, talking to a real daemon's internal socket. The data
 * lands as `qvm-volume import` puts it on another copy of the store (same
 * image, same qubes.xml); too little data fails and keeps the volume; the
 * internal methods' refusals are the reference's.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';
import { clientMissing, comparableStore, PYTHON, REFERENCE_CLIENT, request, rawRequest, shown, startDaemon, type Daemon } from './daemon-env.js';
import { testWithout } from '../needs.js';

const VECTOR = 'qubes-xml/q10.xml';
const SCRIPTS = path.join(ROOT, 'admin-api', 'qubes-rpc');

let d: Daemon;
let ours: TmpStore;

function privateImage(s: TmpStore): string {
  const img = path.join(s.dir, 'appvms/vm0000/private.img');
  fs.mkdirSync(path.dirname(img), { recursive: true });
  fs.writeFileSync(img, 'old data\n');
  fs.truncateSync(img, 2 * 1024 ** 2);
  return img;
}

beforeEach(async () => {
  d = await startDaemon(VECTOR, { store: tmpStoreLocalPools(VECTOR) });
  ours = tmpStoreLocalPools(VECTOR);
  for (const s of [d.store, ours]) privateImage(s);
});

afterEach(async () => {
  expect(await d.stop()).toBe(0);
  for (const s of [d.store, ours]) fs.rmSync(s.dir, { recursive: true, force: true });
});

/**
 * One of Qubes' own tools against the daemon, its qrexec services looked
 * up in admin-api/qubes-rpc instead of /etc/qubes-rpc (the client runs
 * the volume import's script itself, as dom0's qrexec would).
 */
function clientTool(tool: string, args: string[], input = ''): { code: number; stdout: string; stderr: string } {
  const wrapper = [
    'import runpy, sys',
    `sys.path.insert(0, ${JSON.stringify(path.dirname(REFERENCE_CLIENT))})`,
    'import qubesadmin.config',
    `qubesadmin.config.QREXEC_SERVICES_DIR = ${JSON.stringify(SCRIPTS)}`,
    'sys.argv = sys.argv[1:]',
    `runpy.run_path(${JSON.stringify(REFERENCE_CLIENT)}, run_name='__main__')`,
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', wrapper, 'run-tool.py', tool, ...args], {
    input,
    encoding: 'utf8',
    env: { ...d.store.env, PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}`, QUBESD_SOCKET: d.socket },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The service as qrexec starts it for a call from dom0 to `target`. */
function service(name: string, target: string, arg: string, input: Buffer): { code: number; reply: string } {
  const r = spawnSync(path.join(SCRIPTS, name), [arg], {
    input,
    env: {
      ...d.store.env,
      PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}`,
      QREXEC_REMOTE_DOMAIN: 'dom0',
      QREXEC_REQUESTED_TARGET: target,
    },
  });
  return { code: r.status ?? -1, reply: shown(r.stdout) };
}

test('ImportWithSize: the data and the new size, as qvm-volume import --size', () => {
  const data = randomBytes(3 * 1024 ** 2 + 5);
  const r = service('admin.vm.volume.ImportWithSize', 'vm0000', 'private', Buffer.concat([Buffer.from(`${data.length}\n`), data]));
  expect(r).toEqual({ code: 0, reply: '0\\0' });
  const a = run('qvm-volume', ['import', '--size', String(data.length), 'vm0000:private', '-'], ours.env, data as unknown as string);
  expect(a.code).toBe(0);
  for (const s of [d.store, ours]) expect(fs.readFileSync(path.join(s.dir, 'appvms/vm0000/private.img')).equals(data)).toBe(true);
  expect(d.store.read()).toContain(`vid="appvms/vm0000/private" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="${data.length}"`);
  expect(comparableStore(d.store)).toBe(comparableStore(ours));
});

test('Import keeps the size; too little data fails and keeps the old data', () => {
  const img = path.join(d.store.dir, 'appvms/vm0000/private.img');
  const short = service('admin.vm.volume.Import', 'vm0000', 'private', Buffer.from('too short'));
  expect(short).toEqual({ code: 0, reply: '2\\0QubesException\\0\\0Data import failed: the input had 9 of the 2147483648 bytes expected\\0' });
  expect(fs.readFileSync(img).subarray(0, 9).toString()).toBe('old data\n');
  const before = d.store.read();
  expect(service('admin.vm.volume.Import', 'vm0000', 'nosuch', Buffer.alloc(0))).toEqual({
    code: 1,
    reply: '2\\0ProtocolError\\0\\0Argument not in vm0000 volumes\\0',
  });
  expect(d.store.read()).toBe(before);
});

test('the internal methods answer on the internal socket only', async () => {
  const internal = path.join(d.store.dir, 'qubesd.internal.sock');
  expect(shown(await rawRequest(internal, request('internal.vm.volume.ImportBegin', 'vm0000', 'private', '0123')))).toBe(
    '2\\0ProtocolError\\0\\0Size of new data contains spurious leading zeros\\0',
  );
  expect(shown(await d.call('internal.vm.volume.ImportBegin', 'vm0000', 'private'))).toBe(
    "2\\0ProtocolError\\0\\0no such method: 'internal.vm.volume.ImportBegin'\\0",
  );
});

describe("Qubes' client through the import service", () => {
  const absent = clientMissing();

  testWithout(absent, 'qvm-volume import: the same image and qubes.xml as ours', () => {
    const file = path.join(d.store.dir, 'data');
    const data = randomBytes(3 * 1024 ** 2);
    fs.writeFileSync(file, data);
    expect(clientTool('qvm-volume', ['import', '--size', String(data.length), 'vm0000:private', file])).toMatchObject({ code: 0, stderr: '' });
    expect(run('qvm-volume', ['import', '--size', String(data.length), 'vm0000:private', file], ours.env).code).toBe(0);
    for (const s of [d.store, ours]) expect(fs.readFileSync(path.join(s.dir, 'appvms/vm0000/private.img')).equals(data)).toBe(true);
    expect(comparableStore(d.store)).toBe(comparableStore(ours));
  });

  // Issue 15 item 4: Qubes' own restore reads our archives bit for bit, with
  // the volume in one chunk (the default) and split over four (1 MiB chunks
  // through the test hook; a size that is no multiple of a tar block).
  for (const [what, chunkEnv, size] of [
    ['in one chunk', {}, 3 * 1024 ** 2],
    ['over several chunks', { QUBES_BACKUP_CHUNK_SIZE: String(1024 ** 2) }, 3 * 1024 ** 2 + 4321],
  ] as const) {
    testWithout(absent, `qvm-backup-restore of a backup made by ours, ${what}: the qube and its private data come back bit for bit, as with our restore`, () => {
      const pass = path.join(ours.dir, 'pass');
      fs.writeFileSync(pass, 'secret\n');
      const data = randomBytes(size);
      fs.writeFileSync(path.join(ours.dir, 'appvms/vm0000/private.img'), data);
      const env = { ...ours.env, QUBES_BACKUP_SCRYPT_LOGN: '14', ...chunkEnv };
      const backup = path.join(ours.dir, 'bk');
      expect(run('qvm-backup', ['-y', '--passphrase-file', pass, backup, 'vm0000'], env).code).toBe(0);
      for (const s of [d.store, ours]) expect(run('qvm-remove', ['-f', 'vm0000'], s.env).code).toBe(0);
      const theirs = clientTool('qvm-backup-restore', ['-p', pass, backup], 'y\n');
      const a = run('qvm-backup-restore', ['-p', pass, backup], env, 'y\n');
      expect([theirs.code, a.code]).toEqual([0, 0]);
      expect(theirs.stderr).toContain('-> Restoring vm0000...');
      for (const s of [d.store, ours]) expect(fs.readFileSync(path.join(s.dir, 'appvms/vm0000/private.img')).equals(data)).toBe(true);
      expect(comparableStore(d.store)).toBe(comparableStore(ours));
    }, 60000);
  }
});
