/**
 * The zfs driver, verified by the commands it issues: ZFS cannot run here,
 * so FakeZfs (fake-zfs.ts) records every argv and keeps simulated datasets
 * and snapshots that the driver's `zfs list -Hp` report shows in zfs's own
 * tab-separated form; a temp directory plays /dev (a file per zvol). The
 * expected command lines are the reference's (qubes/storage/zfs.py), in
 * its order. Clean snapshot and export names are random: shown as
 * XXXXXXXX.
 *
 * Root or not: the driver asks process.getuid() (through asRoot) on every
 * command; the tests pin it to 0 and set it to 1000 for the sudo test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from '../../lib/app/app.js';
import { StoragePoolError } from '../../lib/errors.js';
import { FilePool } from '../../lib/storage/drivers/file.js';
import { parseZfsReport, REPORT_COLUMNS, ZfsPool, zfsArgv } from '../../lib/storage/drivers/zfs.js';
import type { StorageContext } from '../../lib/storage/pool.js';
import type { Volume } from '../../lib/storage/volume.js';
import { run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';
import { FakeZfs } from './fake-zfs.js';
import { pinUid } from './simulated-runner.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'zfs');
const GiB = 1024 ** 3;
const C = 'tank/qubes';
const T0 = 1521000000;

const setUid = pinUid();

interface World {
  fake: FakeZfs;
  pool: ZfsPool;
  ctx: StorageContext;
  clock: { ms: number };
  devDir: string;
}

const record = (more: [string, string][] = []) =>
  new Pool([['name', 'zfs'], ['container', C], ['driver', 'zfs'], ['revisions_to_keep', '1'], ['ephemeral_volatile', 'False'], ...more]);

const devDirs: string[] = [];
afterEach(() => {
  for (const d of devDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A zpool `tank` (100 GiB, 60 free) with the pool's container made and flagged. */
function world(more: [string, string][] = []): World {
  const devDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zfs-dev-'));
  devDirs.push(devDir);
  const clock = { ms: T0 * 1000 };
  const fake = new FakeZfs(devDir, clock);
  fake.zpool('tank', 100 * GiB, 60 * GiB);
  fake.add(C, 'filesystem', { props: { 'org.qubes-os:part-of-qvm-pool': 'true' } });
  const ctx: StorageContext = { runner: fake, now: () => clock.ms, runDir: path.join(devDir, 'run'), devDir };
  return { fake, pool: new ZfsPool(record(more), ctx), ctx, clock, devDir };
}

const tpl = { name: 'fedora', klass: 'TemplateVM' };
const work = { name: 'work', klass: 'AppVM' };
function origin(pool: ZfsPool, owner: { name: string; klass: string }, name: string, size: number, revisionsToKeep = 1): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw: true, snapOnStart: false, saveOnStop: true, revisionsToKeep, size }, owner);
}
function snapshot(pool: ZfsPool, name: string, source: string, size: number): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw: true, snapOnStart: true, saveOnStop: false, source, revisionsToKeep: 0, size }, work);
}
function volatile(pool: ZfsPool, name: string, size: number): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw: true, snapOnStart: false, saveOnStop: false, revisionsToKeep: 0, size }, work);
}

const rev = (vid: string, cause: string, s: number) => `${vid}@qubes:${cause}:${s}.000000`;
const clean = (vid: string) => `${vid}@qubes-clean-XXXXXXXX`;
const create = (vid: string, size: number, noAuto = false) => `zfs create -p -s -V ${size}${noAuto ? ' -o com.sun:auto-snapshot=false' : ''} ${vid}`;
const tmp = (vid: string) => `${C}/.tmp/${vid.replaceAll('/', '_')}`;

async function rejection(p: Promise<unknown>, message: string): Promise<void> {
  await expect(p).rejects.toThrow(StoragePoolError);
  await expect(p).rejects.toThrow(message);
}

/** The template root and the AppVM work (root snapshot of it, private, volatile), created. */
async function appvm(w: World) {
  const troot = origin(w.pool, tpl, 'root', 10 * GiB);
  const root = snapshot(w.pool, 'root', troot.vid, 10 * GiB);
  const priv = origin(w.pool, work, 'private', 2 * GiB);
  const vol = volatile(w.pool, 'volatile', 10 * GiB);
  for (const v of [troot, root, priv, vol]) await w.pool.create(v);
  w.fake.take();
  return { troot, root, priv, vol };
}

describe('the worked sequence (AppVM work on template fedora, container tank/qubes, as root)', () => {
  test('create, start and stop issue the reference commands in its order', async () => {
    const w = world();
    const troot = origin(w.pool, tpl, 'root', 10 * GiB);
    const root = snapshot(w.pool, 'root', troot.vid, 10 * GiB);
    const priv = origin(w.pool, work, 'private', 2 * GiB);
    const vol = volatile(w.pool, 'volatile', 10 * GiB);
    expect([troot.vid, root.vid, priv.vid, vol.vid]).toEqual([`${C}/fedora/root`, `${C}/work/root`, `${C}/work/private`, `${C}/work/volatile`]);

    for (const v of [troot, root, priv, vol]) await w.pool.create(v);
    expect(w.fake.take()).toEqual([
      create(troot.vid, 10737418240),
      `zfs snapshot ${rev(troot.vid, 'after-create', T0)}`,
      `zfs snapshot ${clean(troot.vid)}`,
      create(priv.vid, 2147483648),
      `zfs snapshot ${rev(priv.vid, 'after-create', T0)}`,
      `zfs snapshot ${clean(priv.vid)}`,
    ]);
    expect(fs.existsSync(path.join(w.devDir, 'zvol', priv.vid))).toBe(true);

    w.clock.ms = (T0 + 60) * 1000;
    await w.pool.verify(root);
    await w.pool.verify(priv);
    for (const v of [root, priv, vol]) await w.pool.start(v);
    expect(w.fake.take()).toEqual([
      `zfs clone -p -o com.sun:auto-snapshot=false ${clean(troot.vid)} ${tmp(root.vid)}`,
      `zfs rename -p ${tmp(root.vid)} ${root.vid}`,
      `zfs set org.qubes:dirty=on ${root.vid}`,
      `zfs set readonly=off ${root.vid}`,
      `zfs snapshot ${rev(priv.vid, 'before-start', T0 + 60)}`,
      `zfs destroy -d -r ${rev(priv.vid, 'after-create', T0)}`,
      `zfs set org.qubes:dirty=on ${priv.vid}`,
      `zfs set readonly=off ${priv.vid}`,
      create(vol.vid, 10737418240, true),
      `zfs set readonly=off ${vol.vid}`,
    ]);
    expect(await w.pool.isDirty(priv)).toBe(true);
    expect(w.pool.blockDevice(root)).toEqual({ path: path.join(w.devDir, 'zvol', root.vid), name: 'root', rw: true, devtype: 'disk' });

    for (const v of [priv, root, vol]) await w.pool.stop(v);
    expect(w.fake.take()).toEqual([
      `zfs set org.qubes:dirty=off ${priv.vid}`,
      `zfs snapshot ${clean(priv.vid)}`,
      `zfs destroy -d -r ${clean(priv.vid)}`,
      `zfs destroy -r ${root.vid}`,
      `zfs destroy -r ${vol.vid}`,
    ]);
    expect(await w.pool.isDirty(priv)).toBe(false);
    expect(await w.pool.revisions(priv)).toEqual([{ id: `qubes:before-start:${T0 + 60}.000000`, timestamp: '2018-03-14T04:01:00' }]);
    expect(w.fake.names(`${C}/work`)).toEqual([`${C}/work`, priv.vid, clean(priv.vid), rev(priv.vid, 'before-start', T0 + 60)].sort());

    // stop is idempotent
    for (const v of [priv, root, vol]) await w.pool.stop(v);
    expect(w.fake.take()).toEqual([]);
  });

  test('a crashed run: the dirty origin is used as it is, the dirty snapshot volume kept', async () => {
    const w = world();
    const { root, priv } = await appvm(w);
    await w.pool.start(root);
    await w.pool.start(priv);
    w.fake.take();
    // no stop: the next start continues with the uncommitted data
    await w.pool.start(root);
    await w.pool.start(priv);
    expect(w.fake.take()).toEqual([`zfs set readonly=off ${root.vid}`, `zfs set readonly=off ${priv.vid}`]);
  });

  test('a read-only volume is started with readonly=on', async () => {
    const w = world();
    const v = w.pool.initVolume({ name: 'private', pool: 'zfs', vid: '', rw: false, snapOnStart: false, saveOnStop: true, revisionsToKeep: 0, size: GiB }, work);
    await w.pool.create(v);
    w.fake.take();
    await w.pool.start(v);
    expect(w.fake.take()).toEqual([`zfs set org.qubes:dirty=on ${v.vid}`, `zfs set readonly=on ${v.vid}`]);
  });
});

describe('revisions', () => {
  test('pruned to revisions_to_keep, newest kept; 0 keeps none', async () => {
    const w = world();
    const v = origin(w.pool, work, 'private', 2 * GiB, 2);
    await w.pool.create(v);
    for (const t of [100, 200, 300]) {
      w.clock.ms = (T0 + t) * 1000;
      await w.pool.start(v);
      await w.pool.stop(v);
    }
    expect((await w.pool.revisions(v)).map((r) => r.id)).toEqual([`qubes:before-start:${T0 + 200}.000000`, `qubes:before-start:${T0 + 300}.000000`]);
    const none = origin(w.pool, { name: 'other', klass: 'AppVM' }, 'private', GiB, 0);
    await w.pool.create(none);
    expect(await w.pool.revisions(none)).toEqual([]);
    expect(w.fake.names(none.vid)).toEqual([none.vid, clean(none.vid)]);
  });

  test('revert: roll back to the newest (or a named) revision, which then goes; a new clean snapshot', async () => {
    const w = world();
    const v = origin(w.pool, work, 'private', 2 * GiB, 2);
    await w.pool.create(v);
    w.clock.ms = (T0 + 100) * 1000;
    await w.pool.start(v);
    await w.pool.stop(v);
    w.fake.take();
    await w.pool.revert(v);
    expect(w.fake.take()).toEqual([
      `zfs rollback -r ${rev(v.vid, 'before-start', T0 + 100)}`,
      `zfs destroy -d -r ${rev(v.vid, 'before-start', T0 + 100)}`,
      `zfs snapshot ${clean(v.vid)}`,
    ]);
    await w.pool.revert(v, `qubes:after-create:${T0}.000000`);
    expect(w.fake.take()[0]).toBe(`zfs rollback -r ${rev(v.vid, 'after-create', T0)}`);
    await rejection(w.pool.revert(v), `Cannot revert volume ${v.vid} with no revisions`);
    await w.pool.start(v);
    await rejection(w.pool.revert(v), `Cannot revert dirty volume ${v.vid} - stop the qube first`);
  });

  test('snapshots disabled (revisions_to_keep -1): no clean snapshot, no revision; a qube made from it gets a clone of a snapshot taken for it', async () => {
    const w = world();
    const troot = origin(w.pool, tpl, 'root', 10 * GiB, -1);
    await w.pool.create(troot);
    expect(w.fake.take()).toEqual([create(troot.vid, 10737418240)]);
    await w.pool.start(troot);
    await w.pool.stop(troot);
    expect(w.fake.take()).toEqual([`zfs set org.qubes:dirty=on ${troot.vid}`, `zfs set readonly=off ${troot.vid}`, `zfs set org.qubes:dirty=off ${troot.vid}`]);
    const root = snapshot(w.pool, 'root', troot.vid, 10 * GiB);
    await w.pool.start(root);
    expect(w.fake.take()).toEqual([
      `zfs snapshot ${clean(troot.vid)}`,
      `zfs clone -p -o com.sun:auto-snapshot=false ${clean(troot.vid)} ${tmp(root.vid)}`,
      `zfs rename -p ${tmp(root.vid)} ${root.vid}`,
      `zfs destroy -d -r ${clean(troot.vid)}`,
      `zfs set org.qubes:dirty=on ${root.vid}`,
      `zfs set readonly=off ${root.vid}`,
    ]);
    // the snapshot backs the clone: its destruction waits for it
    expect([...w.fake.sets].filter(([n, d]) => n.startsWith(`${troot.vid}@`) && d.deferDestroy)).toHaveLength(1);
    await w.pool.stop(root);
    expect(w.fake.names(`${troot.vid}@`)).toEqual([]);
    // while the source runs it cannot be cloned
    fs.mkdirSync(w.ctx.runDir, { recursive: true });
    fs.writeFileSync(path.join(w.ctx.runDir, 'volume-running-zfs:tank-qubes-fedora-root'), '');
    await rejection(w.pool.start(root), `Volume ${troot.vid} must be stopped before being cloned.`);
  });
});

describe('removal', () => {
  test('a volume with its import target, exports and copy; dependent clones are promoted first', async () => {
    const w = world();
    const { troot, root } = await appvm(w);
    await w.pool.start(root); // work/root is a clone of the template's clean snapshot
    w.fake.take();
    await w.pool.remove(troot);
    expect(w.fake.take()).toEqual([
      `zfs destroy -r ${troot.vid}`,
      `zfs list -Hp -o clones ${rev(troot.vid, 'after-create', T0)}`,
      `zfs list -Hp -o clones ${clean(troot.vid)}`,
      `zfs promote ${root.vid}`,
      `zfs destroy -r ${troot.vid}`,
    ]);
    expect(w.fake.names(`${C}/fedora`)).toEqual([`${C}/fedora`]);
    expect(w.fake.names(root.vid)).toEqual([root.vid, rev(root.vid, 'after-create', T0), clean(root.vid)].sort());
  });

  test('a dataset still busy (a closing user) is destroyed again after a while', async () => {
    const w = world();
    const { vol } = await appvm(w);
    await w.pool.start(vol);
    w.fake.take();
    w.fake.script((a) => a[1] === 'destroy', { exitCode: 1, stdout: '', stderr: `cannot destroy '${vol.vid}': dataset is busy\n` });
    const t = Date.now();
    await w.pool.stop(vol);
    expect(Date.now() - t).toBeGreaterThanOrEqual(240);
    expect(w.fake.take()).toEqual([`zfs destroy -r ${vol.vid}`, `zfs destroy -r ${vol.vid}`]);
  });

  test('remove takes the import target, exports, a copy in progress and the volume', async () => {
    const w = world();
    const { priv } = await appvm(w);
    const flat = priv.vid.replaceAll('/', '_');
    for (const n of [`${C}/.importing/${flat}`, `${C}/.tmp/${flat}`]) w.fake.add(n, 'volume', { volsize: GiB });
    w.fake.add(`${C}/.exported/${flat}`, 'filesystem');
    w.fake.add(`${C}/.exported/${flat}/abcdefgh`, 'volume', { volsize: GiB });
    await w.pool.refresh(); // made by other commands: seen once the report is read again
    await w.pool.remove(priv);
    expect(w.fake.take()).toEqual([`zfs destroy -r ${C}/.importing/${flat}`, `zfs destroy -r ${C}/.exported/${flat}`, `zfs destroy -r ${C}/.tmp/${flat}`, `zfs destroy -r ${priv.vid}`]);
    // the qube's dataset stays, as in the reference
    expect(w.fake.names(`${C}/work`)).toEqual([`${C}/work`]);
  });
});

describe('import', () => {
  const importing = (v: Volume) => `${C}/.importing/${v.vid.replaceAll('/', '_')}`;

  test('importData: a new zvol under .importing of the size; success puts it in place with a revision and a clean snapshot', async () => {
    const w = world();
    const { priv } = await appvm(w);
    w.clock.ms = (T0 + 5) * 1000;
    const target = await w.pool.importData(priv, 3 * GiB);
    expect(target).toBe(path.join(w.devDir, 'zvol', importing(priv)));
    await w.pool.importDataEnd(priv, true);
    expect(w.fake.take()).toEqual([
      create(importing(priv), 3221225472),
      `zfs destroy -r ${priv.vid}`,
      `zfs rename -p ${importing(priv)} ${priv.vid}`,
      `zfs snapshot ${rev(priv.vid, 'after-import-data', T0 + 5)}`,
      `zfs snapshot ${clean(priv.vid)}`,
    ]);
    expect(await w.pool.size(priv)).toBe(3 * GiB);
    expect((await w.pool.revisions(priv)).map((r) => r.id)).toEqual([`qubes:after-import-data:${T0 + 5}.000000`]);
  });

  test('a failed import drops the target; no import in progress is an error; dirty volumes are refused', async () => {
    const w = world();
    const { priv } = await appvm(w);
    await w.pool.importData(priv, GiB);
    await w.pool.importDataEnd(priv, false);
    expect(w.fake.take()).toEqual([create(importing(priv), GiB), `zfs destroy -r ${importing(priv)}`]);
    await rejection(w.pool.importDataEnd(priv, true), `No import operation in progress on ${priv.vid}`);
    await w.pool.start(priv);
    await rejection(w.pool.importData(priv, GiB), `Cannot import data to dirty volume ${priv.vid} - stop the qube using it first`);
  });

  test("an import target a killed command left is removed by the next operation on the volume, not refused forever", async () => {
    const w = world();
    const { priv } = await appvm(w);
    w.fake.add(importing(priv), 'volume', { volsize: GiB });
    await w.pool.refresh();
    await w.pool.start(priv);
    expect(w.fake.take()[0]).toBe(`zfs destroy -r ${importing(priv)}`);
  });

  test('importVolume within the pool: a clone of the source clean state put in place, a revision, a clean snapshot', async () => {
    const w = world();
    const { troot } = await appvm(w);
    const dst = origin(w.pool, { name: 'copy', klass: 'TemplateVM' }, 'root', 10 * GiB);
    await w.pool.create(dst);
    w.fake.take();
    w.clock.ms = (T0 + 9) * 1000;
    await w.pool.importVolume(dst, troot, w.pool);
    expect(w.fake.take()).toEqual([
      `zfs clone -p ${clean(troot.vid)} ${tmp(dst.vid)}`,
      `zfs destroy -r ${dst.vid}`,
      `zfs rename -p ${tmp(dst.vid)} ${dst.vid}`,
      `zfs snapshot ${rev(dst.vid, 'after-import-volume', T0 + 9)}`,
      `zfs snapshot ${clean(dst.vid)}`,
    ]);
    // the old state went with its snapshots
    expect(w.fake.names(`${dst.vid}@`)).toEqual([clean(dst.vid), rev(dst.vid, 'after-import-volume', T0 + 9)]);
    // volumes that are not save_on_stop take nothing; a snapshot volume cannot be a source
    await w.pool.importVolume(volatile(w.pool, 'volatile', GiB), troot, w.pool);
    await rejection(w.pool.importVolume(dst, snapshot(w.pool, 'root', troot.vid, GiB), w.pool), `Cannot import from ${C}/work/root — volumes where save_on_stop=False cannot be exported for import`);
    expect(w.fake.take()).toEqual([]);
  });

  test('importVolume from another pool: its export copied with dd into a new zvol of its size; a failed dd leaves the volume', async () => {
    const w = world();
    const { priv } = await appvm(w);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zfs-src-'));
    const filePool = new FilePool(new Pool([['name', 'files'], ['dir_path', dir], ['driver', 'file']]), { ...w.ctx, offline: true });
    await filePool.setup();
    const src = filePool.initVolume({ name: 'private', pool: 'files', vid: '', rw: true, snapOnStart: false, saveOnStop: true, revisionsToKeep: 1, size: 3 * GiB }, work);
    await filePool.create(src);
    await w.pool.importVolume(priv, src, filePool);
    const img = path.join(dir, 'appvms/work/private.img');
    const out = `/dev/zvol/${tmp(priv.vid)}`;
    expect(w.fake.take().slice(0, 3)).toEqual([
      create(tmp(priv.vid), 3221225472),
      `ionice -c3 -- dd if=${img} of=${out} conv=sparse,nocreat status=progress bs=64M iflag=nocache oflag=nocache,dsync`,
      `zfs destroy -r ${priv.vid}`,
    ]);
    w.fake.ddExit = 1;
    await rejection(w.pool.importVolume(priv, src, filePool), `ionice -c3 -- dd if=${img} of=${path.join(w.devDir, 'zvol', tmp(priv.vid))}`);
    expect(w.fake.take()).toEqual([create(tmp(priv.vid), 3221225472), expect.stringMatching(/^ionice /), `zfs destroy -r ${tmp(priv.vid)}`]);
    expect(w.fake.sets.has(priv.vid)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('export', () => {
  test('a clone of the clean state under .exported, removed at the end; the qube may run', async () => {
    const w = world();
    const { priv } = await appvm(w);
    await w.pool.start(priv);
    w.fake.take();
    const p = await w.pool.export(priv);
    const flat = priv.vid.replaceAll('/', '_');
    expect(p).toMatch(new RegExp(`^${path.join(w.devDir, 'zvol', C, '.exported', flat)}/[a-z]{8}$`));
    expect(fs.existsSync(p)).toBe(true);
    await w.pool.exportEnd(priv, p);
    expect(w.fake.take()).toEqual([
      `zfs clone -p -o com.sun:auto-snapshot=false ${clean(priv.vid)} ${C}/.exported/${flat}/XXXXXXXX`,
      `zfs destroy -r ${C}/.exported/${flat}/XXXXXXXX`,
    ]);
    await rejection(w.pool.export(volatile(w.pool, 'volatile', GiB)), `Cannot export ${C}/work/volatile — volumes where save_on_stop=False do not feature snapshots to export from`);
  });

  test('snapshots disabled: a clean snapshot for the time of the clone, refused while running', async () => {
    const w = world();
    const v = origin(w.pool, work, 'private', GiB, -1);
    await w.pool.create(v);
    w.fake.take();
    await w.pool.export(v);
    expect(w.fake.take()).toEqual([`zfs snapshot ${clean(v.vid)}`, expect.stringMatching(/^zfs clone -p -o com.sun:auto-snapshot=false .*qubes-clean-XXXXXXXX /), `zfs destroy -d -r ${clean(v.vid)}`]);
    fs.mkdirSync(w.ctx.runDir, { recursive: true });
    fs.writeFileSync(path.join(w.ctx.runDir, 'volume-running-zfs:tank-qubes-work-private'), '');
    await rejection(w.pool.export(v), `Volume ${v.vid} must be stopped before being cloned`);
  });
});

describe('resize, state and figures', () => {
  test('resize sets volsize of an existing zvol; a halted snapshot volume only changes its nominal size', async () => {
    const w = world();
    const { root, priv } = await appvm(w);
    await w.pool.resize(priv, 4 * GiB);
    await w.pool.resize(priv, 4 * GiB);
    await w.pool.resize(root, 20 * GiB);
    expect(w.fake.take()).toEqual([`zfs set volsize=4294967296 ${priv.vid}`]);
    expect(await w.pool.size(priv)).toBe(4 * GiB);
    expect(await w.pool.size(root)).toBe(10 * GiB);
    await w.pool.start(root);
    w.fake.take();
    await w.pool.resize(root, 20 * GiB);
    expect(w.fake.take()).toEqual([`zfs set volsize=21474836480 ${root.vid}`]);
  });

  test('is_outdated: a running snapshot volume made before its source was committed again', async () => {
    const w = world();
    const { troot, root } = await appvm(w);
    w.clock.ms = (T0 + 10) * 1000;
    await w.pool.start(root);
    expect(await w.pool.isOutdated(root)).toBe(false);
    w.clock.ms = (T0 + 20) * 1000;
    await w.pool.start(troot);
    await w.pool.stop(troot);
    expect(await w.pool.isOutdated(root)).toBe(true);
    expect(await w.pool.isOutdated(troot)).toBe(false);
  });

  test('size and usage from the report (logicalreferenced, read again each time), nominal or 0 without a zvol', async () => {
    const w = world();
    const { root, priv } = await appvm(w);
    w.fake.sets.get(priv.vid)!.used = 123456;
    expect(await w.pool.usage(priv)).toBe(123456);
    expect(await w.pool.usage(root)).toBe(0);
    expect(await w.pool.size(root)).toBe(10 * GiB);
  });

  test('verify: origins need their zvol', async () => {
    const w = world();
    const { root, priv, vol } = await appvm(w);
    await w.pool.verify(root);
    await w.pool.verify(vol);
    await w.pool.verify(priv);
    await rejection(w.pool.verify(origin(w.pool, { name: 'nosuch', klass: 'AppVM' }, 'private', GiB)), `volume ${C}/nosuch/private missing`);
  });

  test('snap_on_start_forensics: a snapshot volume is kept after stop (dirty off) and made anew at the next start', async () => {
    const w = world([['snap_on_start_forensics', 'True']]);
    const { root } = await appvm(w);
    await w.pool.start(root);
    w.fake.take();
    await w.pool.stop(root);
    expect(w.fake.take()).toEqual([`zfs set org.qubes:dirty=off ${root.vid}`]);
    expect(w.fake.sets.has(root.vid)).toBe(true);
    await w.pool.start(root);
    expect(w.fake.take().slice(0, 2)).toEqual([expect.stringMatching(/^zfs clone /), `zfs destroy -r ${root.vid}`]);
  });
});

describe('pool', () => {
  test('setup: the zpool must answer; an existing container is flagged, a missing one made', async () => {
    const w = world();
    delete w.fake.sets.get(C)!.props['org.qubes-os:part-of-qvm-pool'];
    await w.pool.setup();
    expect(w.fake.take()).toEqual([
      'zpool list -Hp -o size tank',
      `zfs list -H -o name,org.qubes-os:part-of-qvm-pool ${C}`,
      `zfs set org.qubes-os:part-of-qvm-pool=true volmode=dev ${C}`,
    ]);
    await w.pool.setup();
    expect(w.fake.take()).toEqual(['zpool list -Hp -o size tank', `zfs list -H -o name,org.qubes-os:part-of-qvm-pool ${C}`]);
    const other = new ZfsPool(new Pool([['name', 'z2'], ['container', 'tank/more/qubes'], ['driver', 'zfs']]), w.ctx);
    await other.setup();
    expect(w.fake.take()).toEqual([
      'zpool list -Hp -o size tank',
      'zfs list -H -o name,org.qubes-os:part-of-qvm-pool tank/more/qubes',
      'zfs create -o mountpoint=none -o volmode=dev -o org.qubes-os:part-of-qvm-pool=true -p tank/more/qubes',
    ]);
    const missing = new ZfsPool(new Pool([['name', 'z3'], ['container', 'nosuch/qubes'], ['driver', 'zfs']]), w.ctx);
    await rejection(missing.setup(), "cannot open 'nosuch': no such pool");
    w.fake.script(() => true, { exitCode: 127, stdout: '', stderr: 'zpool: command not found' });
    await rejection(w.pool.setup(), 'ZFS is not available on this system');
  });

  test('space from zpool list; volumes of the container, not the driver datasets', async () => {
    const w = world();
    const { priv, troot } = await appvm(w);
    w.fake.add(`${C}/.tmp/x`, 'volume', { volsize: GiB });
    await w.pool.refresh();
    expect(await w.pool.space()).toEqual({ size: 100 * GiB, usage: 40 * GiB, details: { data_size: 100 * GiB, data_usage: 40 * GiB } });
    expect(await w.pool.listVolumes()).toEqual([troot.vid, priv.vid]);
  });

  test('the constructor takes the zfs options only; snap_on_start with save_on_stop is refused', () => {
    const w = world();
    expect(() => new ZfsPool(new Pool([['name', 'z'], ['driver', 'zfs']]), w.ctx)).toThrow('missing required driver options: container');
    expect(() => new ZfsPool(new Pool([['name', 'z'], ['driver', 'zfs'], ['container', C], ['dir_path', '/x']]), w.ctx)).toThrow('Unexpected driver options found: dir_path');
    expect(() => w.pool.initVolume({ name: 'x', pool: 'zfs', vid: '', rw: true, snapOnStart: true, saveOnStop: true, source: 'a', revisionsToKeep: 0, size: 1 }, work)).toThrow(
      `ZFSVolume ${C}/work/x cannot be snap_on_start && save_on_stop`,
    );
  });

  test('not root: every zfs and zpool command goes through sudo', async () => {
    const w = world();
    setUid(1000);
    await w.pool.setup();
    expect(w.fake.calls.map((c) => c.argv[0])).toEqual(['sudo', 'sudo']);
  });

  test('a zfs failure is the error with zfs message; stderr of a success is kept as a warning', async () => {
    const w = world();
    const { priv } = await appvm(w);
    w.fake.script((a) => a[1] === 'set', { exitCode: 1, stdout: '', stderr: `cannot set property for '${priv.vid}': out of space\n` });
    await rejection(w.pool.start(priv), `cannot set property for '${priv.vid}': out of space`);
    w.fake.script((a) => a[1] === 'set', (real) => ({ ...real(), stderr: 'warning: something\n' }));
    w.clock.ms += 1000; // the failed start's revision has the name of this second
    await w.pool.start(priv);
    expect(w.pool.warnings).toEqual(['warning: something']);
  });
});

describe('a recorded zfs list report (fixtures/zfs/report.txt)', () => {
  const text = fs.readFileSync(path.join(FIXTURES, 'report.txt'), 'utf8');

  test('the argv that produced it and its parse: tab-separated, - for what does not apply', () => {
    expect(zfsArgv({ op: 'report', container: 'rpool/qubes' })).toEqual(['zfs', 'list', '-Hp', '-r', '-t', 'filesystem,volume,snapshot', '-o', REPORT_COLUMNS.join(','), 'rpool/qubes']);
    const r = parseZfsReport(text);
    expect(r.get('rpool/qubes')).toEqual({ type: 'filesystem', creation: 1715000000, volsize: undefined, readonly: false, dirty: false, deferDestroy: false, used: 49152 });
    expect(r.get('rpool/qubes/work/private')).toEqual({ type: 'volume', creation: 1715000420, volsize: 2147483648, readonly: false, dirty: true, deferDestroy: false, used: 318767104 });
    expect(r.get('rpool/qubes/fedora-41/root@qubes:before-start:1715600000.123456')?.deferDestroy).toBe(true);
    expect(() => parseZfsReport('rpool/qubes\tfilesystem\n')).toThrow("Cannot read the zfs list report: unexpected line 'rpool/qubes\tfilesystem'");
  });

  test('read through the pool: volumes, revisions (deferred ones hidden), dirty, outdated, size', async () => {
    const devDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zfs-dev-'));
    const runner = { run: async (argv: readonly string[]) => (FakeZfs.isReport(argv) ? { exitCode: 0, stdout: text, stderr: '' } : { exitCode: 1, stdout: '', stderr: 'unexpected\n' }) };
    const pool = new ZfsPool(new Pool([['name', 'zfs'], ['container', 'rpool/qubes'], ['driver', 'zfs']]), { runner, now: () => 0, runDir: devDir, devDir });
    expect(await pool.listVolumes()).toEqual(['rpool/qubes/fedora-41/private', 'rpool/qubes/fedora-41/root', 'rpool/qubes/work/private', 'rpool/qubes/work/root']);
    const troot = pool.initVolume({ name: 'root', pool: 'zfs', vid: 'rpool/qubes/fedora-41/root', rw: true, snapOnStart: false, saveOnStop: true, revisionsToKeep: 1, size: 0 }, tpl);
    const root = pool.initVolume({ name: 'root', pool: 'zfs', vid: 'rpool/qubes/work/root', rw: true, snapOnStart: true, saveOnStop: false, source: troot.vid, revisionsToKeep: 0, size: 0 }, work);
    const priv = pool.initVolume({ name: 'private', pool: 'zfs', vid: 'rpool/qubes/work/private', rw: true, snapOnStart: false, saveOnStop: true, revisionsToKeep: 1, size: 0 }, work);
    expect(await pool.revisions(troot)).toEqual([{ id: 'qubes:after-import-data:1715000100.000000', timestamp: '2024-05-06T12:55:00' }]);
    expect(await pool.isDirty(priv)).toBe(true);
    expect(await pool.isDirty(troot)).toBe(false);
    expect(await pool.isOutdated(root)).toBe(true);
    expect(await pool.size(troot)).toBe(10737418240);
    expect(await pool.usage(root)).toBe(2803306496);
    fs.rmSync(devDir, { recursive: true, force: true });
  });
});

describe('through the commands, with zfs and zpool programs answering recorded output', () => {
  // The programs log their argv and answer: zpool list with fixed sizes,
  // the driver's report with the file FAKE_ZFS_REPORT (the state the test
  // says ZFS is in), a single-dataset `zfs list -H` with "does not exist";
  // creations make the zvol's device node as udev would.
  const FAKE = `#!/bin/bash
prog=$(basename "$0")
printf '%s %s\\n' "$prog" "$*" >> "$FAKE_ZFS_LOG"
last=\${*: -1}
if [ "$prog" = zpool ]; then
  case "$*" in
    "list -Hp -o size tank") echo 107374182400 ;;
    "list -Hp -o free tank") echo 64424509440 ;;
    *) echo "cannot open '$last': no such pool" >&2; exit 1 ;;
  esac
  exit 0
fi
case "$1" in
  list)
    if [ "$3" = -r ] && [ -f "$FAKE_ZFS_REPORT" ]; then cat "$FAKE_ZFS_REPORT"; exit 0; fi
    echo "cannot open '$last': dataset does not exist" >&2; exit 1 ;;
  create|clone|rename)
    if [ "$2" != -o ]; then mkdir -p "$(dirname "$QUBES_DEV_DIR/zvol/$last")"; touch "$QUBES_DEV_DIR/zvol/$last"; fi ;;
esac
exit 0
`;
  let s: TmpStore;
  let env: NodeJS.ProcessEnv;
  let logFile: string;
  let report: string;
  const logged = () => {
    const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '') : [];
    fs.rmSync(logFile, { force: true });
    return lines.filter((l) => !l.startsWith('zfs list -Hp -r ')).map((l) => l.replace(/qubes-clean-[a-z]{8}/g, 'qubes-clean-XXXXXXXX').replace(/:\d+\.\d{6}$/, ':T'));
  };
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);

  beforeAll(() => {
    s = tmpStoreLocalPools('qubes-xml/q10.xml');
    const bin = path.join(s.dir, 'fake-bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'zfs'), FAKE, { mode: 0o755 });
    fs.symlinkSync('zfs', path.join(bin, 'zpool'));
    logFile = path.join(s.dir, 'zfs.log');
    report = path.join(s.dir, 'report.txt');
    env = { ...s.env, PATH: `${bin}:${process.env.PATH}`, QUBES_DEV_DIR: path.join(s.dir, 'dev'), QUBES_RUN_DIR: path.join(s.dir, 'run'), FAKE_ZFS_LOG: logFile, FAKE_ZFS_REPORT: report };
  });
  afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test('qvm-pool add makes the container; info shows the zpool figures', () => {
    expect(q('qvm-pool', 'add', 'tank', 'zfs', '-o', 'container=tank/qubes')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<pool name="tank" container="tank/qubes" driver="zfs" revisions_to_keep="1" ephemeral_volatile="False" snap_on_start_forensics="False"/>');
    expect(logged()).toEqual([
      'zpool list -Hp -o size tank',
      'zfs list -H -o name,org.qubes-os:part-of-qvm-pool tank/qubes',
      'zfs create -o mountpoint=none -o volmode=dev -o org.qubes-os:part-of-qvm-pool=true -p tank/qubes',
    ]);
    expect(q('qvm-pool', 'info', 'tank').stdout).toBe(
      [
        'name                     tank',
        'container                tank/qubes',
        'driver                   zfs',
        'ephemeral_volatile       False',
        'revisions_to_keep        1',
        'size                     107374182400',
        'snap_on_start_forensics  False',
        'usage                    42949672960',
        '',
      ].join('\n'),
    );
    expect(q('qvm-pool', 'add', 'gone', 'zfs', '-o', 'container=nosuch/qubes')).toEqual({ code: 1, stdout: '', stderr: "qvm-pool: error: Failed to add pool gone: cannot open 'nosuch': no such pool\n" });
    logged();
  });

  test('qubes in the pool: created, listed, shown, resized, reverted and removed with the reference commands', () => {
    expect(q('qvm-create', '-C', 'StandaloneVM', '-P', 'tank', 'zq', '-l', 'red')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<volume name="private" pool="tank" vid="tank/qubes/zq/private" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="2147483648"/>');
    const made = logged();
    for (const vol of ['root', 'private']) {
      const v = `tank/qubes/zq/${vol}`;
      expect(made.filter((l) => l.includes(v))).toEqual([
        `zfs create -p -s -V ${vol === 'root' ? 10737418240 : 2147483648} ${v}`,
        `zfs snapshot ${v}@qubes:after-create:T`,
        `zfs snapshot ${v}@qubes-clean-XXXXXXXX`,
      ]);
    }
    expect(made).toHaveLength(6);

    // ZFS now holds what the create made, and a revision of an earlier run
    fs.writeFileSync(
      report,
      [
        'tank/qubes\tfilesystem\t1715000000\t-\toff\t-\t-\t49152',
        'tank/qubes/zq\tfilesystem\t1715000000\t-\toff\t-\t-\t49152',
        'tank/qubes/zq/private\tvolume\t1715000000\t2147483648\toff\toff\t-\t1048576',
        'tank/qubes/zq/private@qubes:before-start:1715000100.500000\tsnapshot\t1715000100\t2147483648\t-\t-\toff\t1048576',
        'tank/qubes/zq/private@qubes-clean-abcdefgh\tsnapshot\t1715000200\t2147483648\t-\t-\toff\t1048576',
        'tank/qubes/zq/root\tvolume\t1715000000\t10737418240\toff\toff\t-\t0',
        'tank/qubes/zq/root@qubes-clean-qwertyui\tsnapshot\t1715000000\t10737418240\t-\t-\toff\t0',
        '',
      ].join('\n'),
    );
    const rows = q('qvm-volume', 'list', '-p', 'tank').stdout.trim().split('\n').map((l) => l.split(/ +/));
    expect(rows).toEqual([
      ['POOL:VOLUME', 'VMNAME', 'VOLUME_NAME', 'REVERT_POSSIBLE'],
      ['tank:tank/qubes/zq/private', 'zq', 'private', 'Yes'],
      ['tank:tank/qubes/zq/root', 'zq', 'root', 'No'],
      ['tank:tank/qubes/zq/volatile', 'zq', 'volatile', 'No'],
    ]);
    const info = q('qvm-volume', 'info', 'zq:private').stdout;
    expect(info).toMatch(/^usage +1048576$/m);
    expect(info).toMatch(/^List of available revisions \(for revert\):\n {2}qubes:before-start:1715000100.500000\n$/m);
    logged();

    expect(q('qvm-volume', 'resize', 'zq:private', '3GiB').code).toBe(0);
    expect(logged()).toEqual(['zfs set volsize=3221225472 tank/qubes/zq/private']);
    expect(q('qvm-volume', 'revert', 'zq:private', 'qubes:before-start:1715000100.500000').code).toBe(0);
    expect(logged()).toEqual([
      'zfs rollback -r tank/qubes/zq/private@qubes:before-start:T',
      'zfs destroy -d -r tank/qubes/zq/private@qubes:before-start:T',
      'zfs snapshot tank/qubes/zq/private@qubes-clean-XXXXXXXX',
      'zfs destroy -d -r tank/qubes/zq/private@qubes-clean-XXXXXXXX',
    ]);
    expect(q('qvm-remove', '-f', 'zq').code).toBe(0);
    expect(logged()).toEqual(['zfs destroy -r tank/qubes/zq/root', 'zfs destroy -r tank/qubes/zq/private']);
    expect(s.read()).not.toContain('zq');
  });

  test('a callback pool wrapping a zfs pool: its qubes get zfs volume ids and zfs commands', () => {
    const config = path.join(s.dir, 'callback.json');
    fs.writeFileSync(config, JSON.stringify({ z: { bdriver: 'zfs', bdriver_args: { container: 'tank/wrapped', revisions_to_keep: 0 } } }));
    const cenv = { ...env, QUBES_CALLBACK_CONFIG: config };
    fs.rmSync(report, { force: true });
    expect(run('qvm-pool', ['add', 'cz', 'callback', '-o', 'conf_id=z'], cenv)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run('qvm-create', ['-C', 'StandaloneVM', '-P', 'cz', 'cq', '-l', 'red'], cenv)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('<volume name="private" pool="cz" vid="tank/wrapped/cq/private" revisions_to_keep="0" rw="True" save_on_stop="True" snap_on_start="False" size="2147483648"/>');
    // volumes are made side by side: each one's commands in order
    const made = logged();
    expect(made.filter((l) => l.includes('/cq/root'))).toEqual(['zfs create -p -s -V 10737418240 tank/wrapped/cq/root', 'zfs snapshot tank/wrapped/cq/root@qubes-clean-XXXXXXXX']);
    expect(made.filter((l) => l.includes('/cq/private'))).toEqual(['zfs create -p -s -V 2147483648 tank/wrapped/cq/private', 'zfs snapshot tank/wrapped/cq/private@qubes-clean-XXXXXXXX']);
  });
});
