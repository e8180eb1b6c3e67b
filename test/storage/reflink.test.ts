// The file-reflink driver on real btrfs and XFS filesystems (loop-mounted),
// driven through the built commands where they exist and through the
// storage library for start/stop (the VMM issue calls those).
import fs from 'node:fs';
import path from 'node:path';
import { describeLacking } from '../needs.js';
import { mountLacking, mountLoopFs, type FsType, type LoopFs } from './loopfs.js';
import { MiB, randomFile, sha256, storageEnv, writeRunning, type StorageEnv } from './storage-env.js';

const imageOf = (dir: string, vid: string) => path.join(dir, `${vid}.img`);
/** Whether the image starts with `text`. */
const startsWith = (file: string, text: string) => {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(text.length);
  fs.readSync(fd, b, 0, b.length, 0);
  fs.closeSync(fd);
  return b.toString('utf8') === text;
};

const FILESYSTEMS: FsType[] = ['btrfs', 'xfs'];

for (const type of FILESYSTEMS) describeLacking(mountLacking(), `file-reflink on ${type}`, () => {
  let lfs: LoopFs;
  let s: StorageEnv;

  beforeAll(() => {
    lfs = mountLoopFs(type, 1536);
    s = storageEnv(lfs.dir);
    s.ok('qubes-create');
    s.ok('qvm-create', '-C', 'TemplateVM', 'tpl', '-l', 'black');
  });
  afterAll(() => lfs?.unmount());

  test('qubes-create chooses file-reflink for varlibqubes and sets the pool up', () => {
    expect(s.ok('qvm-pool', 'info', 'varlibqubes')).toMatch(/^driver +file-reflink$/m);
    for (const d of ['appvms', 'vm-templates']) expect(fs.statSync(path.join(lfs.dir, d)).isDirectory()).toBe(true);
    // an origin volume: clean and precache made at creation, sparse
    const clean = imageOf(lfs.dir, 'vm-templates/tpl/private');
    expect(fs.statSync(clean).size).toBe(2 * 1024 * MiB);
    expect(fs.statSync(clean).blocks).toBe(0);
    expect(fs.existsSync(path.join(lfs.dir, 'vm-templates/tpl/private-precache.img'))).toBe(true);
  });

  test('a clone of a 512 MiB volume shares its extents and takes well under a second', () => {
    const data = path.join(lfs.dir, 'data.bin');
    randomFile(data, 512 * MiB);
    s.ok('qvm-volume', 'import', 'tpl:root', data);
    fs.rmSync(data);
    const root = imageOf(lfs.dir, 'vm-templates/tpl/root');
    expect(fs.statSync(root).size).toBe(512 * MiB);
    const digest = sha256(root);
    const before = lfs.used();
    const t0 = process.hrtime.bigint();
    s.ok('qvm-clone', 'tpl', 'tpl2');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const grown = lfs.used() - before;
    expect(ms).toBeLessThan(1000);
    expect(grown).toBeLessThan(16 * MiB);
    expect(sha256(imageOf(lfs.dir, 'vm-templates/tpl2/root'))).toBe(digest);
    expect(s.ok('qvm-volume', 'info', 'tpl2:root', 'size')).toBe(`${512 * MiB}\n`);
  });

  test('revisions rotate to revisions_to_keep and revert restores the old content byte for byte', async () => {
    // small, so hashing it stays quick (and shrinking needs --force)
    expect(s.q('qvm-volume', 'resize', 'tpl:private', '64MiB')).toMatchObject({ code: 1, stderr: expect.stringContaining('Refusing to shrink volume tpl:private from 2147483648 to 67108864 bytes.') });
    s.ok('qvm-volume', 'resize', '--force', 'tpl:private', '64MiB');
    expect(fs.statSync(imageOf(lfs.dir, 'vm-templates/tpl/private')).size).toBe(64 * MiB);
    s.ok('qvm-volume', 'config', 'tpl:private', 'revisions_to_keep', '2');
    const clean = imageOf(lfs.dir, 'vm-templates/tpl/private');
    const states: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const qs = await s.storage('tpl');
      await qs.start();
      await writeRunning(s, 'tpl', 'private', `generation ${i}`);
      expect(await qs.stop()).toEqual([]);
      states.push(sha256(clean));
      expect(startsWith(clean, `generation ${i}`)).toBe(true);
    }
    const revs = s.ok('qvm-volume', 'info', 'tpl:private', 'revisions').trim().split('\n');
    expect(revs).toHaveLength(2);
    expect(s.ok('qvm-volume', 'list', 'tpl')).toMatch(/^varlibqubes:vm-templates\/tpl\/private +tpl +private +Yes$/m);
    // newest revision = the state before the last commit
    s.ok('qvm-volume', 'revert', 'tpl:private');
    expect(sha256(clean)).toBe(states[2]);
    expect(startsWith(clean, 'generation 3')).toBe(true);
    // the replaced state became a revision: revert to it again
    const after = s.ok('qvm-volume', 'info', 'tpl:private', 'revisions').trim().split('\n');
    s.ok('qvm-volume', 'revert', 'tpl:private', after.at(-1) as string);
    expect(sha256(clean)).toBe(states[3]);
    // an unknown revision is refused and changes nothing
    const r = s.q('qvm-volume', 'revert', 'tpl:private', '999');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('qvm-volume: error: Revision 999 of tpl:private not found\n');
    expect(sha256(clean)).toBe(states[3]);
  });

  test("is_outdated flips when the template's root changes after the qube started", async () => {
    s.ok('qvm-create', 'app', '-t', 'tpl', '-l', 'red');
    const app = await s.storage('app');
    await app.start();
    expect(s.ok('qvm-volume', 'info', 'app:root', 'is_outdated')).toBe('False\n');
    const tpl = await s.storage('tpl');
    await tpl.start();
    await writeRunning(s, 'tpl', 'root', 'new root');
    await tpl.stop();
    expect(s.ok('qvm-volume', 'info', 'app:root', 'is_outdated')).toBe('True\n');
    // the qube kept the old root
    expect(startsWith(path.join(lfs.dir, 'appvms/app/root-dirty.img'), 'new root')).toBe(false);
    await app.stop();
    expect(fs.existsSync(path.join(lfs.dir, 'appvms/app/root.img'))).toBe(false);
    await app.start();
    expect(startsWith(path.join(lfs.dir, 'appvms/app/root-dirty.img'), 'new root')).toBe(true);
    expect(s.ok('qvm-volume', 'info', 'app:root', 'is_outdated')).toBe('False\n');
    await app.stop();
  });

  test('a qube that crashed keeps its uncommitted data at the next start', async () => {
    const qs = await s.storage('tpl2');
    await qs.start();
    await writeRunning(s, 'tpl2', 'private', 'unsaved work');
    // no stop: the next start continues with the dirty image
    const again = await s.storage('tpl2');
    await again.start();
    expect(startsWith(path.join(lfs.dir, 'vm-templates/tpl2/private-dirty.img'), 'unsaved work')).toBe(true);
    await again.stop();
    expect(startsWith(imageOf(lfs.dir, 'vm-templates/tpl2/private'), 'unsaved work')).toBe(true);
  });

  test('qvm-remove removes every image, revision and the directory', () => {
    s.ok('qvm-remove', '-f', 'app');
    expect(fs.existsSync(path.join(lfs.dir, 'appvms/app'))).toBe(false);
  });
});
