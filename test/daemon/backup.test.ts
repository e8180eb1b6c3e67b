// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backups from profiles through the daemon: Qubes' own `qvm-backup
 * --profile` (admin.backup.Info, then Execute) against our qubesd on one
 * copy of a store and our `qvm-backup --profile` on another: the same
 * summary, exit code and qubes.xml (backup_timestamp aside), and an
 * archive our qvm-backup-restore verifies; the profile's selection by
 * name, @tag: and @type:; and the refusals under the reference names.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, comparableStore, referenceTool, shown, startDaemon, type Daemon } from './daemon-env.js';

const absent = clientMissing();
const VECTOR = 'qubes-xml/q10.xml';

function profile(s: TmpStore, name: string, lines: string[]): void {
  fs.writeFileSync(path.join(s.dir, 'profiles', `${name}.conf`), `${lines.join('\n')}\n`);
}

/** A store with a private image for vm0000, a profile directory, an output directory and fast test scrypt. */
function prepare(s: TmpStore): NodeJS.ProcessEnv {
  const img = path.join(s.dir, 'appvms/vm0000/private.img');
  fs.mkdirSync(path.dirname(img), { recursive: true });
  fs.writeFileSync(img, 'private data\n');
  fs.truncateSync(img, 8 * 1024 ** 2);
  for (const d of ['profiles', 'out']) fs.mkdirSync(path.join(s.dir, d));
  const p = (name: string, include: string[]) =>
    profile(s, name, ['compression: true', `destination_path: ${path.join(s.dir, 'out')}`, 'destination_vm: dom0', 'include:', ...include.map((i) => `- '${i}'`), 'passphrase_text: secret']);
  p('one', ['vm0000']);
  p('tagged', ['@tag:bulk-import', 'nosuch']);
  profile(s, 'nopass', [`destination_path: ${path.join(s.dir, 'out')}`, 'destination_vm: dom0', 'include: null']);
  profile(s, 'toqube', [`destination_path: /home/user`, 'destination_vm: sys-net', 'include: null', 'passphrase_text: x']);
  return { QUBES_BACKUP_PROFILE_DIR: path.join(s.dir, 'profiles'), QUBES_BACKUP_SCRYPT_LOGN: '10' };
}

let d: Daemon;
let ours: TmpStore;

beforeEach(async () => {
  if (absent.length) return;
  const theirs = tmpStoreLocalPools(VECTOR);
  d = await startDaemon(VECTOR, { store: theirs, env: prepare(theirs) });
  ours = tmpStoreLocalPools(VECTOR);
  ours.env = { ...ours.env, ...prepare(ours) };
});

afterEach(async () => {
  if (absent.length) return;
  expect(await d.stop()).toBe(0);
  for (const s of [d.store, ours]) fs.rmSync(s.dir, { recursive: true, force: true });
});

const normalised = comparableStore;

describe('qvm-backup --profile through the daemon', () => {
  testWithout(absent, 'the same summary and qubes.xml as ours; an archive that verifies', () => {
    const a = run('qvm-backup', ['--profile', 'one', '-y'], ours.env);
    const b = referenceTool(d, 'qvm-backup', ['--profile', 'one', '-y']);
    expect([b.code, a.code]).toEqual([0, 0]);
    // Qubes' client prints the summary with print(): a newline more
    expect(b.stdout.trimEnd()).toBe(a.stdout.trimEnd());
    expect(a.stdout).toContain('vm0000 |');
    expect(normalised(d.store)).toBe(normalised(ours));
    expect(d.store.read()).toMatch(/<property name="backup_timestamp">\d+<\/property>/);
    const [archive] = fs.readdirSync(path.join(d.store.dir, 'out'));
    fs.writeFileSync(path.join(d.store.dir, 'pass'), 'secret\n');
    const v = run('qvm-backup-restore', ['--verify-only', '-p', path.join(d.store.dir, 'pass'), path.join(d.store.dir, 'out', archive as string)], d.store.env);
    expect([v.code, v.stdout]).toEqual([0, expect.stringContaining(' vm0000 | AppVM | fedora-41 |')]);
  });
});

describe('admin.backup.*', () => {
  testWithout(absent, 'Info: the profile selects by @tag: (names of no qube select nothing)', async () => {
    const info = shown(await d.call('admin.backup.Info', 'dom0', 'tagged'));
    for (const vm of ['vm0000', 'vm0001', 'vm0009']) expect(info).toMatch(new RegExp(`^ +${vm} \\|`, 'm'));
    expect(info).toContain('VMs not selected for backup:\n - dom0\n - fedora-41\n');
  });

  testWithout(absent, 'refusals under the reference names; nothing written', async () => {
    const before = d.store.read();
    const cases: [string, string, string][] = [
      ['admin.backup.Info', 'a/b', '2\\0ProtocolError\\0\\0Backup profile ID must not contain forward slash character\\0'],
      ['admin.backup.Info', 'nosuch', '2\\0QubesBackupProfileNotFoundError\\0\\0Backup profile does not exist: nosuch\\0'],
      ['admin.backup.Execute', 'nosuch', '2\\0QubesBackupProfileNotFoundError\\0\\0Backup profile does not exist: nosuch\\0'],
      ['admin.backup.Execute', 'nopass', '2\\0QubesException\\0\\0Invalid backup profile - you need to specify passphrase_text or passphrase_vm\\0'],
      ['admin.backup.Execute', 'toqube', expect.stringMatching(/^2\\0QubesException\\0\\0Writing a backup to a qube needs qrexec/) as unknown as string],
      ['admin.backup.Cancel', 'one', '2\\0QubesException\\0\\0Backup operation not running\\0'],
    ];
    for (const [m, arg, expected] of cases) expect([m, arg, shown(await d.call(m, 'dom0', arg))]).toEqual([m, arg, expected]);
    expect(d.store.read()).toBe(before);
    expect(fs.readdirSync(path.join(d.store.dir, 'out'))).toEqual([]);
  });

  testWithout(absent, 'Cancel stops a running Execute: BackupCancelledError, no archive left', async () => {
    // 64 MiB that do not compress keep the run going long enough to cancel it
    const fd = fs.openSync(path.join(d.store.dir, 'appvms/vm0000/private.img'), 'r+');
    for (let i = 0; i < 64; i++) fs.writeSync(fd, randomBytes(1024 ** 2), 0, 1024 ** 2, i * 1024 ** 2);
    fs.closeSync(fd);
    const execute = d.call('admin.backup.Execute', 'dom0', 'one');
    await new Promise((r) => setTimeout(r, 100));
    expect(shown(await d.call('admin.backup.Execute', 'dom0', 'one'))).toBe('2\\0BackupAlreadyRunningError\\0\\0Backup already running\\0');
    expect(shown(await d.call('admin.backup.Cancel', 'dom0', 'one'))).toBe('0\\0');
    expect(shown(await execute)).toBe('2\\0BackupCancelledError\\0\\0Backup cancelled\\0');
    expect(fs.readdirSync(path.join(d.store.dir, 'out'))).toEqual([]);
  }, 30000);
});
