// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `file` driver on real files in a temporary directory. The
 * device-mapper layer cannot run here (no dm in the kernel), so a
 * recording runner plays losetup and dmsetup (FakeDm: loop devices, dm
 * devices as files in the test's /dev/mapper, open counts) and the test
 * checks the exact argument lists, with device names checked against
 * `stat --printf=%D:%i` (what the reference's create-snapshot runs). `cp`
 * is really run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from '../../lib/app/app.js';
import { StoragePoolError } from '../../lib/errors.js';
import { asRoot, commandRunner, type CommandResult, type CommandRunner } from '../../lib/storage/command-runner.js';
import { FilePool } from '../../lib/storage/drivers/file.js';
import type { StorageContext } from '../../lib/storage/pool.js';
import { isoDate, type Volume, type VolumeOwner, type VolumeSettings } from '../../lib/storage/volume.js';

const MiB = 1024 * 1024;
const HEADER = 262144;

type Responder = (argv: string[]) => Partial<CommandResult> | undefined;

/** What `dmsetup targets` prints on a kernel with the snapshot targets loaded. */
const TARGETS = 'snapshot-merge   v1.5.0\nsnapshot-origin  v1.9.0\nsnapshot         v1.16.0\nstriped          v1.6.0\nlinear           v1.4.0\nerror            v1.6.0\n';

/**
 * losetup and dmsetup on a simulated kernel: loop devices by backing file
 * (`--nooverlap` finds the one a file has), detached when nothing holds
 * them (else freed with their last holder, autoclear), dm devices as files
 * in <devDir>/mapper holding the loop devices and dm devices their table
 * names, each with an open count (`open`: other holders, such as a qube).
 */
class FakeDm {
  readonly loops = new Map<string, { file: string; autoclear: boolean }>();
  readonly tables = new Map<string, string>();
  readonly open = new Map<string, number>();
  private next = 0;
  constructor(readonly devDir: string) {}

  private node = (name: string) => path.join(this.devDir, 'mapper', name);
  private held = (dev: string) => [...this.tables.values()].some((t) => t.split(' ').includes(dev));
  /** A reboot: no loop or dm device is left (files stay as they are). */
  reboot(): void {
    for (const name of this.tables.keys()) fs.rmSync(this.node(name), { force: true });
    this.tables.clear();
    this.loops.clear();
  }

  private sweep(): void {
    for (const [l, v] of this.loops) if (v.autoclear && !this.held(l)) this.loops.delete(l);
  }

  answer(argv: string[]): Partial<CommandResult> | undefined {
    const [cmd, sub, ...rest] = argv;
    if (cmd === 'dmsetup' && sub === 'targets') return { stdout: TARGETS };
    if (cmd === 'losetup' && sub === '--find') {
      const f = rest.at(-1) as string;
      const found = [...this.loops].find(([, v]) => v.file === f)?.[0];
      const l = found ?? `/dev/loop${this.next++}`;
      this.loops.set(l, { file: f, autoclear: false });
      return { stdout: `${l}\n` };
    }
    if (cmd === 'losetup' && sub === '--detach') {
      const l = rest[0] as string;
      if (this.held(l)) (this.loops.get(l) as { autoclear: boolean }).autoclear = true;
      else this.loops.delete(l);
      return {};
    }
    if (cmd === 'dmsetup' && sub === 'create') {
      const [name, , table] = rest as [string, string, string];
      if (this.tables.has(name)) return { exitCode: 1, stderr: 'device-mapper: create ioctl failed: Device or resource busy\n' };
      for (const dev of table.split(' ').filter((w) => w.startsWith('/'))) {
        const known = this.loops.has(dev) || this.tables.has(path.basename(dev));
        if (!known) return { exitCode: 1, stderr: `device-mapper: reload ioctl failed: No such device or address (${dev})\n` };
      }
      this.tables.set(name, table.replaceAll(path.join(this.devDir, 'mapper'), '/dev/mapper'));
      fs.writeFileSync(this.node(name), '');
      return {};
    }
    if (cmd === 'dmsetup' && sub === 'info') {
      const name = rest.at(-1) as string;
      if (!this.tables.has(name)) return { exitCode: 1, stderr: `Device ${name} not found\n` };
      const users = [...this.tables.values()].filter((t) => t.includes(`/dev/mapper/${name} `)).length;
      return { stdout: `${users + (this.open.get(name) ?? 0)}\n` };
    }
    if (cmd === 'dmsetup' && sub === 'remove') {
      const name = rest[0] as string;
      this.tables.delete(name);
      fs.rmSync(this.node(name), { force: true });
      this.sweep();
      return {};
    }
    return undefined;
  }
}

/** Records every argv; runs `cp` for real; answers from `respond`, then FakeDm (default: success, no output). */
class RecordingRunner implements CommandRunner {
  calls: string[][] = [];
  respond: Responder = () => undefined;
  constructor(readonly dm: FakeDm) {}
  async run(argv: readonly string[]): Promise<CommandResult> {
    this.calls.push([...argv]);
    if (argv[0] === 'cp') return commandRunner(process.env).run(argv);
    const plain = argv[0] === 'sudo' ? argv.slice(1) : [...argv];
    return { exitCode: 0, stdout: '', stderr: '', ...(this.respond(plain) ?? this.dm.answer(plain)) };
  }
  /** The calls since the last take, as lines with sudo dropped and the test's /dev shown as /dev. */
  take(): string[] {
    const out = this.calls.map((c) => (c[0] === 'sudo' ? c.slice(1) : c).join(' ').replaceAll(this.dm.devDir, '/dev'));
    this.calls = [];
    return out;
  }
}

let root: string;
let dir: string;
let runner: RecordingRunner;
let ctx: StorageContext;

const poolRecord = (attrs: [string, string][] = []) =>
  new Pool([['name', 'pool-file'], ['dir_path', dir], ['driver', 'file'], ['revisions_to_keep', '1'], ...attrs]);

async function newPool(attrs: [string, string][] = []): Promise<FilePool> {
  const p = new FilePool(poolRecord(attrs), ctx);
  await p.setup();
  return p;
}

const fedora: VolumeOwner = { name: 'fedora', klass: 'TemplateVM' };
const work: VolumeOwner = { name: 'work', klass: 'AppVM' };

function settings(s: Partial<VolumeSettings> & { name: string; vid: string }): VolumeSettings {
  return { pool: 'pool-file', rw: true, snapOnStart: false, saveOnStop: false, revisionsToKeep: 1, size: 8 * MiB, ...s };
}
const templateRoot = (p: FilePool, s: Partial<VolumeSettings> = {}) =>
  p.initVolume(settings({ name: 'root', vid: 'vm-templates/fedora/root', saveOnStop: true, ...s }), fedora);
const appRoot = (p: FilePool) =>
  p.initVolume(settings({ name: 'root', vid: 'appvms/work/root', snapOnStart: true, source: 'vm-templates/fedora/root' }), work);
const appPrivate = (p: FilePool, s: Partial<VolumeSettings> = {}) =>
  p.initVolume(settings({ name: 'private', vid: 'appvms/work/private', saveOnStop: true, size: 4 * MiB, ...s }), work);
const appVolatile = (p: FilePool) => p.initVolume(settings({ name: 'volatile', vid: 'appvms/work/volatile', size: 4 * MiB }), work);

const file = (rel: string) => path.join(dir, rel);
/** What create-snapshot would call the file: `stat --printf=%D:%i`. */
const devIno = (f: string) => execFileSync('stat', ['--printf=%D:%i', '--', f], { encoding: 'utf8' });
const blocks = (f: string) => fs.statSync(f).blocks;
const ino = (f: string) => fs.statSync(f).ino;

function writeAt(f: string, offset: number, data: Buffer | string): void {
  const fd = fs.openSync(f, 'r+');
  try {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    fs.writeSync(fd, b, 0, b.length, offset);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The header dm-snap-persistent writes to a new exception store, and its empty first metadata area. */
function emptyHeader(): Buffer {
  const b = Buffer.alloc(HEADER);
  b.write('SnAp', 0, 'latin1');
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(256, 12);
  return b;
}

/** A dm device set up outside the driver (by an earlier command). */
function fakeDevice(name: string, table = '0 8192 linear 7:0 0'): string {
  runner.dm.tables.set(name, table);
  const p = path.join(root, 'dev', 'mapper', name);
  fs.writeFileSync(p, '');
  return p;
}

async function rejects(p: Promise<unknown>, message: string): Promise<void> {
  await expect(p).rejects.toThrow(StoragePoolError);
  await expect(p).rejects.toThrow(message);
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'file-pool-'));
  dir = path.join(root, 'pool');
  fs.mkdirSync(path.join(root, 'dev', 'mapper'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dev', 'mapper', 'control'), '');
  fs.mkdirSync(path.join(root, 'run'));
  runner = new RecordingRunner(new FakeDm(path.join(root, 'dev')));
  ctx = { runner, now: () => Date.now(), runDir: path.join(root, 'run'), devDir: path.join(root, 'dev') };
});

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('pool', () => {
  test('setup makes dir_path, appvms and vm-templates; the parent must exist', async () => {
    await newPool();
    expect(fs.readdirSync(dir).sort()).toEqual(['appvms', 'vm-templates']);
    dir = path.join(root, 'missing', 'pool');
    await rejects(new FilePool(poolRecord(), ctx).setup(), `${path.join(root, 'missing')} does not exist`);
    expect(fs.existsSync(path.join(root, 'missing'))).toBe(false);
  });

  test('revisions_to_keep above 1 is refused', () => {
    expect(() => new FilePool(new Pool([['name', 'p'], ['dir_path', root], ['driver', 'file'], ['revisions_to_keep', '2']]), ctx)).toThrow(
      'FilePool supports maximum 1 volume revision to keep',
    );
    expect(new FilePool(new Pool([['name', 'p'], ['dir_path', root], ['driver', 'file'], ['revisions_to_keep', '-1']]), ctx).revisionsToKeep).toBe(-1);
  });

  test('space: statfs of dir_path, 0 when it is missing', async () => {
    const p = await newPool();
    const s = fs.statfsSync(dir);
    const space = await p.space();
    expect(space.size).toBe(s.bsize * s.blocks);
    expect(space.usage).toBeGreaterThan(0);
    expect(space.details).toEqual({ data_size: space.size, data_usage: space.usage });
    fs.rmSync(dir, { recursive: true });
    expect(await p.space()).toEqual({ size: 0, usage: 0, details: { data_size: 0, data_usage: 0 } });
  });

  test('listVolumes: volumes initialised here and images on disk (not cows or imports)', async () => {
    const p = await newPool();
    appRoot(p);
    fs.mkdirSync(file('vm-templates/other'));
    for (const f of ['root.img', 'root-cow.img', 'root-cow.img.old', 'private-import.img']) fs.writeFileSync(file(`vm-templates/other/${f}`), '');
    expect(await p.listVolumes()).toEqual(['appvms/work/root', 'vm-templates/other/root']);
  });
});

describe('initVolume', () => {
  test('snap_on_start with save_on_stop is refused', async () => {
    const p = await newPool();
    expect(() => p.initVolume(settings({ name: 'x', vid: 'appvms/w/x', snapOnStart: true, saveOnStop: true, source: 'appvms/a/b' }), work)).toThrow(
      'snap_on_start + save_on_stop not supported by file driver',
    );
  });

  test('non-origin volumes keep no revisions; origins keep -1, 0 or 1', async () => {
    const p = await newPool();
    expect(appRoot(p).revisionsToKeep).toBe(0);
    expect(appVolatile(p).revisionsToKeep).toBe(0);
    expect(appPrivate(p).revisionsToKeep).toBe(1);
    expect(appPrivate(p, { revisionsToKeep: -1 }).snapshotsDisabled).toBe(true);
    expect(() => appPrivate(p, { revisionsToKeep: 2 })).toThrow('FileVolume supports maximum 1 volume revision to keep');
  });

  test('an empty vid is made from the owner: vm-templates/ for templates, else appvms/', async () => {
    const p = await newPool();
    expect(p.initVolume(settings({ name: 'root', vid: '', saveOnStop: true }), fedora).vid).toBe('vm-templates/fedora/root');
    expect(p.initVolume(settings({ name: 'private', vid: '', saveOnStop: true }), work).vid).toBe('appvms/work/private');
    expect(() => p.initVolume(settings({ name: 'x', vid: '../../etc/x', saveOnStop: true }), work)).toThrow('is not under appvms/ or vm-templates/');
  });
});

describe('create, verify, size, usage, remove', () => {
  test('create makes a sparse image of the nominal size, mode 0664; never twice', async () => {
    const p = await newPool();
    const v = templateRoot(p);
    await p.create(v);
    const st = fs.statSync(file('vm-templates/fedora/root.img'));
    expect(st.size).toBe(8 * MiB);
    expect(st.blocks).toBe(0);
    expect(st.mode & 0o777).toBe(0o664);
    await rejects(p.create(v), `Volume ${file('vm-templates/fedora/root.img')} already exists`);
    await rejects(p.create(templateRoot(p, { size: 0 })), 'size must be > 0');
  });

  test('a snapshot volume creates nothing; volatile gets an image', async () => {
    const p = await newPool();
    await p.create(appRoot(p));
    await p.create(appVolatile(p));
    expect(fs.readdirSync(file('appvms/work'))).toEqual(['volatile.img']);
  });

  test('verify: origin and snapshot need their image, volatile nothing', async () => {
    const p = await newPool();
    await rejects(p.verify(templateRoot(p)), `Missing image file: ${file('vm-templates/fedora/root.img')}.`);
    await rejects(p.verify(appRoot(p)), `Missing image file: ${file('vm-templates/fedora/root.img')}.`);
    await p.verify(appVolatile(p));
    await p.create(templateRoot(p));
    await p.verify(templateRoot(p));
    await p.verify(appRoot(p));
  });

  test('size is the image size (a snapshot: its source image), else nominal; usage sums allocated bytes', async () => {
    const p = await newPool();
    const tpl = templateRoot(p);
    const snap = appRoot(p);
    const priv = appPrivate(p);
    expect(await p.size(priv)).toBe(4 * MiB);
    expect(await p.usage(priv)).toBe(0);
    await p.create(tpl);
    fs.truncateSync(file('vm-templates/fedora/root.img'), 9 * MiB);
    expect(await p.size(tpl)).toBe(9 * MiB);
    expect(await p.size(snap)).toBe(9 * MiB);
    writeAt(file('vm-templates/fedora/root.img'), MiB, Buffer.alloc(8192, 1));
    await p.start(tpl);
    await p.start(snap);
    writeAt(file('vm-templates/fedora/root-cow.img'), 0, Buffer.alloc(4096, 2));
    writeAt(file('appvms/work/root-cow.img'), 0, Buffer.alloc(3 * 4096, 3));
    const used = (rel: string) => blocks(file(rel)) * 512;
    expect(await p.usage(tpl)).toBe(used('vm-templates/fedora/root.img') + used('vm-templates/fedora/root-cow.img'));
    expect(await p.usage(snap)).toBe(used('appvms/work/root-cow.img'));
    const vol = appVolatile(p);
    await p.start(vol);
    writeAt(file('appvms/work/volatile.img'), 0, Buffer.alloc(4096, 4));
    expect(await p.usage(vol)).toBe(used('appvms/work/volatile.img'));
    expect(await p.usage(vol)).toBe(4096);
  });

  test('remove deletes image, cow, old cow, import and copy leftovers; a snapshot keeps its source image', async () => {
    const p = await newPool();
    const tpl = templateRoot(p);
    await p.create(tpl);
    for (const f of ['root-cow.img', 'root-cow.img.old', 'root-import.img', 'root.img~0123abcd']) fs.writeFileSync(file(`vm-templates/fedora/${f}`), '');
    const snap = appRoot(p);
    await p.start(snap);
    await p.remove(snap);
    // nothing left, not even the qube's directory in the pool once it is empty
    expect(fs.existsSync(file('appvms/work'))).toBe(false);
    expect(fs.existsSync(file('vm-templates/fedora/root.img'))).toBe(true);
    await p.remove(tpl);
    expect(fs.existsSync(file('vm-templates/fedora'))).toBe(false);
    expect(await p.listVolumes()).toEqual([]);
    // removing a volume that was never created makes nothing on the way
    await p.remove(appPrivate(p));
    expect(fs.existsSync(file('appvms/work'))).toBe(false);
    await p.remove(p.initVolume(settings({ name: 'private', vid: 'appvms/gone/private', saveOnStop: true }), work));
    expect(fs.existsSync(file('appvms/gone'))).toBe(false);
  });
});

describe('start and stop: files and device-mapper commands', () => {
  const TARGETS_CHECK = 'dmsetup targets';
  const loop = (f: string) => `losetup --find --nooverlap --show ${f}`;
  const detach = (l: string) => `losetup --detach ${l}`;
  const create = (name: string, table: string) => `dmsetup create ${name} --table ${table}`;
  const info = (name: string) => `dmsetup info -c --noheadings -o open ${name}`;
  const sectors = (8 * MiB) / 512;

  test('origin start: sparse cow of the image size; the shared snapshot of image and cow, then the snapshot-origin', async () => {
    const p = await newPool();
    const v = templateRoot(p);
    await p.create(v);
    expect(runner.take()).toEqual([TARGETS_CHECK]);
    await p.start(v);
    const img = file('vm-templates/fedora/root.img');
    const cow = file('vm-templates/fedora/root-cow.img');
    expect(fs.statSync(cow).size).toBe(8 * MiB);
    expect(blocks(cow)).toBe(0);
    const name = `origin-${devIno(img)}`;
    const shared = `snapshot-${devIno(img)}-${devIno(cow)}`;
    expect(name).toMatch(/^origin-[0-9a-f]+:\d+$/);
    expect(runner.take()).toEqual([
      loop(img),
      loop(cow),
      create(shared, `0 ${sectors} snapshot /dev/loop0 /dev/loop1 P 256`),
      detach('/dev/loop0'),
      detach('/dev/loop1'),
      loop(img),
      create(name, `0 ${sectors} snapshot-origin /dev/loop0`),
      detach('/dev/loop0'),
    ]);
    // the loop devices stay while the dm devices hold them
    expect([...runner.dm.loops.keys()]).toEqual(['/dev/loop0', '/dev/loop1']);
    expect(p.blockDevice(v)).toEqual({ path: path.join(root, 'dev', 'mapper', name), name: 'root', rw: true, devtype: 'disk' });
    // started again without a stop (a crash): the devices are kept
    await p.start(v);
    expect(runner.take()).toEqual([]);
  });

  test('snapshot start: stale own cow replaced, source cow made, a snapshot of the shared snapshot on its own cow', async () => {
    const p = await newPool();
    const tpl = templateRoot(p);
    const snap = appRoot(p);
    await p.create(tpl);
    fs.mkdirSync(file('appvms/work'));
    const ownCow = file('appvms/work/root-cow.img');
    fs.writeFileSync(ownCow, 'left over by a crash');
    runner.take();
    await p.start(snap);
    const img = file('vm-templates/fedora/root.img');
    const srcCow = file('vm-templates/fedora/root-cow.img');
    expect(fs.statSync(ownCow).size).toBe(8 * MiB);
    expect(blocks(ownCow)).toBe(0);
    expect(fs.statSync(srcCow).size).toBe(8 * MiB);
    const shared = `snapshot-${devIno(img)}-${devIno(srcCow)}`;
    const name = `${shared}-${devIno(ownCow)}`;
    expect(runner.take()).toEqual([
      loop(img),
      loop(srcCow),
      create(shared, `0 ${sectors} snapshot /dev/loop0 /dev/loop1 P 256`),
      detach('/dev/loop0'),
      detach('/dev/loop1'),
      loop(ownCow),
      create(name, `0 ${sectors} snapshot /dev/mapper/${shared} /dev/loop2 P 256`),
      detach('/dev/loop2'),
    ]);
    expect(p.blockDevice(snap).path).toBe(path.join(root, 'dev', 'mapper', name));
  });

  test('a qube started while its template runs shares the template pre-start snapshot; stops keep what others use', async () => {
    const p = await newPool();
    const tpl = templateRoot(p);
    await p.create(tpl);
    await p.start(tpl);
    const img = file('vm-templates/fedora/root.img');
    const shared = `snapshot-${devIno(img)}-${devIno(file('vm-templates/fedora/root-cow.img'))}`;
    const origin = `origin-${devIno(img)}`;
    runner.take();
    const snap = appRoot(p);
    await p.start(snap);
    const name = path.basename(p.blockDevice(snap).path);
    expect(runner.take()).toEqual([loop(file('appvms/work/root-cow.img')), create(name, `0 ${sectors} snapshot /dev/mapper/${shared} /dev/loop2 P 256`), detach('/dev/loop2')]);

    // the qube stops: its device goes, the shared one stays (the template runs on it)
    await p.stop(snap);
    expect(runner.take()).toEqual([info(name), `dmsetup remove ${name}`]);

    // the template stops while another qube runs on its shared snapshot: that one stays too
    await p.start(snap);
    const again = path.basename(p.blockDevice(snap).path);
    runner.take();
    await p.stop(tpl);
    expect(runner.take()).toEqual([info(origin), `dmsetup remove ${origin}`, info(shared)]);
    expect(runner.dm.tables.has(shared)).toBe(true);
    // the template committed meanwhile (its cow was renamed away): the qube's device is still found, and the
    // shared snapshot it was made on goes with it
    await p.stop(snap);
    expect(runner.take()).toEqual([info(again), `dmsetup remove ${again}`, info(shared), `dmsetup remove ${shared}`]);
    expect([...runner.dm.tables.keys()]).toEqual([]);
    expect([...runner.dm.loops.keys()]).toEqual([]);
  });

  test('a device still open (its qube not gone yet) is left in place; the files are still handled', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    await p.start(v);
    const name = `origin-${devIno(file('appvms/work/private.img'))}`;
    runner.dm.open.set(name, 1);
    runner.take();
    await p.stop(v);
    expect(runner.take()).toEqual([info(name)]);
    expect(runner.dm.tables.has(name)).toBe(true);
  });

  test('a failing dmsetup fails the start with its message; the shared snapshot made for it goes, loops are detached', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    runner.take();
    runner.respond = (argv) => (argv[1] === 'create' && argv[2]?.startsWith('origin-') ? { exitCode: 1, stderr: 'device-mapper: reload ioctl on origin failed: Invalid argument\nCommand failed.\n' } : undefined);
    await rejects(p.start(v), 'dmsetup create failed: device-mapper: reload ioctl on origin failed: Invalid argument');
    const img = file('appvms/work/private.img');
    const shared = `snapshot-${devIno(img)}-${devIno(file('appvms/work/private-cow.img'))}`;
    expect(runner.take().slice(-4)).toEqual([loop(img), `dmsetup create origin-${devIno(img)} --table 0 ${sectors / 2} snapshot-origin /dev/loop0`, detach('/dev/loop0'), `dmsetup remove ${shared}`]);
    expect([...runner.dm.tables.keys()]).toEqual([]);
    expect([...runner.dm.loops.keys()]).toEqual([]);
  });

  test('start without the image fails and creates nothing', async () => {
    const p = await newPool();
    await rejects(p.start(appPrivate(p)), `Missing image file: ${file('appvms/work/private.img')}`);
    await rejects(p.start(appRoot(p)), `Missing image file: ${file('vm-templates/fedora/root.img')}`);
    expect(fs.readdirSync(file('appvms'))).toEqual([]);
    expect(runner.calls).toEqual([]);
  });

  test('volatile start: a fresh empty image each time, no dm; stop deletes it', async () => {
    const p = await newPool();
    const v = appVolatile(p);
    await p.start(v);
    const img = file('appvms/work/volatile.img');
    writeAt(img, 0, Buffer.alloc(8192, 7));
    await p.start(v);
    expect(fs.statSync(img).size).toBe(4 * MiB);
    expect(blocks(img)).toBe(0);
    expect(p.blockDevice(v).path).toBe(img);
    await p.stop(v);
    expect(fs.existsSync(img)).toBe(false);
    expect(runner.calls).toEqual([]);
  });

  test('snapshots disabled: the image itself, no cow, no dm commands', async () => {
    const p = await newPool();
    const v = appPrivate(p, { revisionsToKeep: -1 });
    await p.create(v);
    await p.start(v);
    writeAt(file('appvms/work/private.img'), 0, 'data');
    await p.stop(v);
    expect(fs.readdirSync(file('appvms/work'))).toEqual(['private.img']);
    expect(p.blockDevice(v).path).toBe(file('appvms/work/private.img'));
    expect(await p.isDirty(v)).toBe(false);
    expect(runner.calls).toEqual([]);
  });

  test('origin stop: the device and its shared snapshot go, a changed cow becomes the old revision, a new empty cow', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    await p.start(v);
    const img = file('appvms/work/private.img');
    const cow = file('appvms/work/private-cow.img');
    const name = `origin-${devIno(img)}`;
    const shared = `snapshot-${devIno(img)}-${devIno(cow)}`;
    writeAt(cow, 0, emptyHeader());
    writeAt(cow, HEADER, Buffer.alloc(4096, 9));
    const cowIno = ino(cow);
    runner.take();
    await p.stop(v);
    expect(runner.take()).toEqual([info(name), `dmsetup remove ${name}`, info(shared), `dmsetup remove ${shared}`]);
    expect(ino(`${cow}.old`)).toBe(cowIno);
    expect(ino(cow)).not.toBe(cowIno);
    expect(fs.statSync(cow).size).toBe(4 * MiB);
    expect(blocks(cow)).toBe(0);
    const ctime = fs.statSync(`${cow}.old`).ctimeMs;
    expect(await p.revisions(v)).toEqual([{ id: 'old', timestamp: isoDate(ctime) }]);

    // stop is idempotent: no device, and the empty cow does not replace the revision
    await p.stop(v);
    expect(ino(`${cow}.old`)).toBe(cowIno);
    expect(runner.take()).toEqual([]);
  });

  test('origin stop with revisions_to_keep 0 drops the changed cow', async () => {
    const p = await newPool();
    const v = appPrivate(p, { revisionsToKeep: 0 });
    await p.create(v);
    await p.start(v);
    const cow = file('appvms/work/private-cow.img');
    writeAt(cow, 0, 'not an empty header');
    await p.stop(v);
    expect(fs.readdirSync(file('appvms/work')).sort()).toEqual(['private-cow.img', 'private.img']);
    expect(blocks(cow)).toBe(0);
    expect(await p.revisions(v)).toEqual([]);
  });

  test('read-only origin and snapshot stop delete their cow; the snapshot device and, unused, its shared snapshot go', async () => {
    const p = await newPool();
    const ro = appPrivate(p, { rw: false });
    await p.create(ro);
    await p.start(ro);
    await p.stop(ro);
    expect(fs.existsSync(file('appvms/work/private-cow.img'))).toBe(false);

    const tpl = templateRoot(p);
    const snap = appRoot(p);
    await p.create(tpl);
    await p.start(snap);
    const name = path.basename(p.blockDevice(snap).path);
    const shared = name.split('-').slice(0, 3).join('-');
    runner.take();
    await p.stop(snap);
    expect(runner.take()).toEqual([info(name), `dmsetup remove ${name}`, info(shared), `dmsetup remove ${shared}`]);
    expect(fs.existsSync(file('appvms/work/root-cow.img'))).toBe(false);
    expect(fs.existsSync(file('vm-templates/fedora/root-cow.img'))).toBe(true);
  });
});

describe('a host without device-mapper', () => {
  const refusal = (why: string) => `pool pool-file (file driver) needs device-mapper to start its qubes, which this host lacks: ${why}; use a file-reflink or lvm_thin pool`;

  test('no control node: origin and snapshot volumes are refused before anything is made; volatile ones are fine', async () => {
    fs.rmSync(path.join(root, 'dev', 'mapper', 'control'));
    const p = await newPool();
    const why = refusal(`no ${path.join(root, 'dev', 'mapper', 'control')}`);
    await rejects(p.create(appPrivate(p)), why);
    await rejects(p.create(templateRoot(p)), why);
    await rejects(p.checkHost(), why);
    expect(fs.readdirSync(file('appvms'))).toEqual([]);
    await p.create(appVolatile(p));
    expect(runner.calls).toEqual([]);
    // a copy into an origin volume (clone, restore) is refused too
    const q = await newPool([]);
    await rejects(q.importVolume(appPrivate(q), templateRoot(q), q), why);
  });

  test('offline mode (a store prepared for another kernel): nothing is checked', async () => {
    fs.rmSync(path.join(root, 'dev', 'mapper', 'control'));
    ctx = { ...ctx, offline: true };
    const p = await newPool();
    await p.create(appPrivate(p));
    await p.checkHost();
    expect(fs.existsSync(file('appvms/work/private.img'))).toBe(true);
    expect(runner.calls).toEqual([]);
  });

  test.each([
    ['no dmsetup', { exitCode: 127, stderr: 'dmsetup: command not found' }, undefined, 'no dmsetup program'],
    ['a kernel without dm', { exitCode: 1, stderr: '/dev/mapper/control: open failed: No such device\nFailure to communicate with kernel device-mapper driver.\n' }, undefined, 'the kernel does not answer dmsetup: /dev/mapper/control: open failed: No such device'],
    ['no snapshot target and no module', { stdout: 'linear v1.4.0\nerror v1.6.0\n' }, { exitCode: 1, stderr: 'modprobe: FATAL: Module dm-snapshot not found\n' }, 'no dm-snapshot target'],
  ] as [string, Partial<CommandResult>, Partial<CommandResult> | undefined, string][])('%s', async (_what, targets, modprobe, why) => {
    runner.respond = (argv) => (argv[0] === 'dmsetup' && argv[1] === 'targets' ? targets : argv[0] === 'modprobe' ? modprobe : undefined);
    const p = await newPool();
    await rejects(p.create(appPrivate(p)), refusal(why));
    // an image made elsewhere (a store prepared offline): its start is refused before any cow is made
    fs.mkdirSync(file('vm-templates/fedora'));
    fs.writeFileSync(file('vm-templates/fedora/root.img'), Buffer.alloc(MiB));
    await rejects(p.start(appRoot(p)), refusal(why));
    expect(fs.readdirSync(file('vm-templates/fedora'))).toEqual(['root.img']);
    // asked once per command
    expect(runner.take().filter((l) => l === 'dmsetup targets')).toEqual(['dmsetup targets']);
  });

  test('snapshot targets not loaded yet but available as a module: accepted', async () => {
    runner.respond = (argv) => (argv[1] === 'targets' ? { stdout: 'linear v1.4.0\n' } : undefined);
    const p = await newPool();
    await p.create(appPrivate(p));
    expect(runner.take()).toEqual(['dmsetup targets', 'modprobe --dry-run dm-snapshot']);
  });
});

describe('isDirty: cow data beyond an empty persistent-snapshot header', () => {
  let p: FilePool;
  let v: Volume;
  let cow: string;
  beforeEach(async () => {
    p = await newPool();
    v = appPrivate(p);
    await p.create(v);
    await p.start(v);
    cow = file('appvms/work/private-cow.img');
  });

  test('a fresh sparse cow is clean', async () => {
    expect(blocks(cow)).toBe(0);
    expect(await p.isDirty(v)).toBe(false);
  });

  test('the whole empty header written (as dm does) is clean', async () => {
    writeAt(cow, 0, emptyHeader());
    expect(blocks(cow) * 512).toBe(HEADER);
    expect(await p.isDirty(v)).toBe(false);
  });

  test('data beyond the header is dirty', async () => {
    writeAt(cow, 0, emptyHeader());
    writeAt(cow, MiB, 'x');
    expect(await p.isDirty(v)).toBe(true);
  });

  test('an exception recorded in the metadata area is dirty', async () => {
    const h = emptyHeader();
    h.writeBigUInt64LE(5n, 131072);
    writeAt(cow, 0, h);
    expect(await p.isDirty(v)).toBe(true);
  });

  test('only the header block allocated is clean; with data after the hole it is dirty', async () => {
    writeAt(cow, 0, emptyHeader().subarray(0, 4096));
    expect(blocks(cow) * 512).toBe(4096);
    expect(await p.isDirty(v)).toBe(false);
    writeAt(cow, 2 * MiB, 'y');
    expect(blocks(cow) * 512).toBeLessThanOrEqual(HEADER);
    expect(await p.isDirty(v)).toBe(true);
  });

  test('no header but data is dirty; volatile and snapshot volumes are never dirty', async () => {
    writeAt(cow, 3 * MiB, 'z');
    expect(await p.isDirty(v)).toBe(true);
    expect(await p.isDirty(appVolatile(p))).toBe(false);
    expect(await p.isDirty(appRoot(p))).toBe(false);
  });
});

describe('export', () => {
  test('the image of a halted clean volume; start refused until the export ends', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    const img = await p.export(v);
    expect(img).toBe(file('appvms/work/private.img'));
    await rejects(p.start(v), 'file pool cannot start a VM with an exported volume');
    await rejects(p.stop(v), 'file pool cannot stop an exported volume');
    await p.exportEnd(v, img);
    await p.start(v);
  });

  test('refused while running: running marker or dm device', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    const marker = path.join(root, 'run', 'volume-running-pool--file:appvms-work-private');
    fs.writeFileSync(marker, '');
    await rejects(p.export(v), 'file pool cannot export running volumes');
    fs.rmSync(marker);
    fakeDevice(`origin-${devIno(file('appvms/work/private.img'))}`);
    await rejects(p.export(v), 'file pool cannot export running volumes');
  });

  test('refused while dirty', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    await p.start(v);
    writeAt(file('appvms/work/private-cow.img'), 0, 'changed');
    runner.dm.reboot(); // the run ended without a stop: its changes are in the cow
    await rejects(p.export(v), 'file pool cannot export dirty volumes');
  });
});

describe('import', () => {
  test('importData: a sparse import image, renamed over the image on success', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    const target = await p.importData(v, 6 * MiB);
    expect(target).toBe(file('appvms/work/private-import.img'));
    expect(fs.statSync(target).size).toBe(6 * MiB);
    expect(blocks(target)).toBe(0);
    await rejects(p.importData(v, MiB), `Volume ${target} already exists`);
    writeAt(target, MiB, 'imported');
    const importIno = ino(target);
    await p.importDataEnd(v, true);
    expect(fs.existsSync(target)).toBe(false);
    expect(ino(file('appvms/work/private.img'))).toBe(importIno);
    expect(await p.size(v)).toBe(6 * MiB);
  });

  test("a killed command's leftovers are removed by the next operation on the volume; another volume's are not", async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    // left by commands killed during an import and a copy (nobody holds the volume's lock)
    for (const f of ['private-import.img', 'private.img~0123abcd', 'private-cow.img~89abcdef']) fs.writeFileSync(file(`appvms/work/${f}`), 'left');
    // a copy in progress for another volume whose name starts alike
    fs.writeFileSync(file('appvms/work/private2.img~0123abcd'), 'busy');
    const target = await p.importData(v, MiB);
    expect(fs.statSync(target).size).toBe(MiB);
    expect(blocks(target)).toBe(0);
    await p.importDataEnd(v, true);
    expect(fs.readdirSync(file('appvms/work')).sort()).toEqual(['private.img', 'private2.img~0123abcd']);
    expect(fs.readdirSync(path.join(root, 'run', 'volume-locks'))).toEqual([]);
  });

  test('importData failure removes the import image and keeps the data', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    const before = ino(file('appvms/work/private.img'));
    await p.importData(v, MiB);
    await p.importDataEnd(v, false);
    expect(fs.readdirSync(file('appvms/work'))).toEqual(['private.img']);
    expect(ino(file('appvms/work/private.img'))).toBe(before);
  });

  test('importData only into origins, never while running', async () => {
    const p = await newPool();
    await rejects(p.importData(appVolatile(p), MiB), 'Can not import into save_on_stop=False volume appvms/work/volatile');
    const v = appPrivate(p);
    await p.create(v);
    fs.writeFileSync(path.join(root, 'run', 'volume-running-pool--file:appvms-work-private'), '');
    await rejects(p.importData(v, MiB), 'file pool cannot import into running volume appvms/work/private');
  });

  test('importVolume copies the source image sparsely with cp through the runner', async () => {
    const p = await newPool();
    const src = templateRoot(p);
    await p.create(src);
    const srcImg = file('vm-templates/fedora/root.img');
    writeAt(srcImg, 5 * MiB, 'template data');
    const dst = p.initVolume(settings({ name: 'root', vid: 'vm-templates/clone/root', saveOnStop: true, size: MiB }), { name: 'clone', klass: 'TemplateVM' });
    expect(runner.take()).toEqual(['dmsetup targets']); // the device-mapper check of the first create
    await p.importVolume(dst, src, p);
    const dstImg = file('vm-templates/clone/root.img');
    expect(fs.readFileSync(dstImg).equals(fs.readFileSync(srcImg))).toBe(true);
    expect(blocks(dstImg)).toBeLessThanOrEqual(blocks(srcImg));
    expect(await p.size(dst)).toBe(8 * MiB);
    expect(runner.calls).toHaveLength(1);
    const [cp] = runner.calls as [string[]];
    expect(cp.slice(0, 4)).toEqual(['cp', '--sparse=always', '--reflink=auto', srcImg]);
    expect(cp[4]).toMatch(new RegExp(`^${dstImg}~[0-9a-f]{8}$`));
    expect(fs.readdirSync(file('vm-templates/clone'))).toEqual(['root.img']);
    // the source export ended: it can start again
    await p.start(src);
  });

  test('importVolume: a failed copy keeps the old image; snapshot sources refused; other classes no-op', async () => {
    const p = await newPool();
    const src = templateRoot(p);
    await p.create(src);
    const dst = appPrivate(p);
    await p.create(dst);
    writeAt(file('appvms/work/private.img'), 0, 'keep me');
    runner.calls = [];
    const failing: CommandRunner = {
      run: async (argv) =>
        argv[0] === 'cp' ? { exitCode: 1, stdout: '', stderr: 'cp: No space left on device\n' } : { exitCode: 0, stdout: '', stderr: '', ...runner.dm.answer(argv.slice(argv[0] === 'sudo' ? 1 : 0)) },
    };
    const p2 = new FilePool(poolRecord(), { ...ctx, runner: failing });
    await rejects(p2.importVolume(dst, src, p2), `Error while copying '${file('vm-templates/fedora/root.img')}' to '${file('appvms/work/private.img')}': cp: No space left on device`);
    expect(fs.readFileSync(file('appvms/work/private.img')).subarray(0, 7).toString()).toBe('keep me');
    expect(fs.readdirSync(file('appvms/work'))).toEqual(['private.img']);
    await rejects(p.importVolume(dst, appRoot(p), p), 'Can not import snapshot volume appvms/work/root in to pool pool-file');
    await p.importVolume(appVolatile(p), src, p);
    expect(runner.calls).toEqual([]);
  });
});

describe('resize', () => {
  test('refused for read-only and snapshot volumes', async () => {
    const p = await newPool();
    await rejects(p.resize(appPrivate(p, { rw: false }), MiB), 'Can not resize readonly volume appvms/work/private');
    await rejects(p.resize(appRoot(p), MiB), 'Cannot resize volume based on a template - resizethe template instead');
  });

  test('halted: truncate the image (grow or shrink); no loop device, nothing more', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    runner.calls = [];
    await p.resize(v, 16 * MiB);
    const img = file('appvms/work/private.img');
    expect(fs.statSync(img).size).toBe(16 * MiB);
    expect(blocks(img)).toBe(0);
    await p.resize(v, 2 * MiB);
    expect(await p.size(v)).toBe(2 * MiB);
    expect(runner.calls).toEqual([asRoot(['losetup', '--associated', img]), asRoot(['losetup', '--associated', img])]);
  });

  test('running origin: loop capacity, then the snapshot-origin table reloaded with the new sector count', async () => {
    const p = await newPool();
    const v = appPrivate(p);
    await p.create(v);
    runner.calls = [];
    const img = file('appvms/work/private.img');
    const dev = path.join(root, 'dev', 'mapper', `origin-${devIno(img)}`);
    runner.respond = (argv) => {
      if (argv[0] === 'losetup' && argv[1] === '--associated') return { stdout: `/dev/loop7: [0803]:${ino(img)} (${img})\n` };
      if (argv[0] === 'dmsetup' && argv[1] === 'table') return { stdout: '0 8192 snapshot-origin 7:7\n' };
      return undefined;
    };
    await p.resize(v, 10 * MiB);
    expect(fs.statSync(img).size).toBe(10 * MiB);
    expect(runner.calls).toEqual([
      asRoot(['losetup', '--associated', img]),
      asRoot(['losetup', '--set-capacity', '/dev/loop7']),
      asRoot(['dmsetup', 'table', dev]),
      asRoot(['dmsetup', 'load', `--table=0 ${(10 * MiB) / 512} snapshot-origin 7:7`, dev]),
      asRoot(['dmsetup', 'resume', dev]),
    ]);
  });

  test('running volatile: loop capacity only; an unexpected dm table is refused', async () => {
    const p = await newPool();
    const vol = appVolatile(p);
    await p.resize(vol, 6 * MiB); // halted: no image, only the nominal size changes
    expect(runner.calls).toEqual([]);
    await p.start(vol);
    runner.respond = (argv) => {
      if (argv[1] === '--associated') return { stdout: '/dev/loop3: []: (/x)\n' };
      if (argv[1] === 'table') return { stdout: '0 8192 snapshot 7:1 7:2 P 256\n' };
      return undefined;
    };
    await p.resize(vol, 6 * MiB);
    expect(runner.calls).toEqual([asRoot(['losetup', '--associated', file('appvms/work/volatile.img')]), asRoot(['losetup', '--set-capacity', '/dev/loop3'])]);
    const v = appPrivate(p);
    await p.create(v);
    await rejects(p.resize(v, 6 * MiB), 'Unexpected device-mapper table');
  });
});

test('revert is refused: the file driver keeps the old cow but cannot merge it back', async () => {
  const p = await newPool();
  await rejects(p.revert(appPrivate(p), 'old'), 'the file driver cannot revert to a revision');
});
