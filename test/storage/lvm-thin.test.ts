/**
 * The lvm_thin driver, verified by the commands it issues: LVM cannot run
 * here, so a fake `lvm` (FakeLvm) records every argv and keeps a simulated
 * set of LVs that `lvm lvs --reportformat=json` reports in lvm's own JSON
 * shape; lvcreate/lvrename/lvremove/lvresize/lvchange change it, and a temp
 * directory plays /dev (a file per active LV).
 *
 * Root or not: the driver asks process.getuid() (through asRoot) on every
 * command; the tests pin it to 0 (as the spec's worked sequence) and set it
 * to 1000 for the sudo test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from '../../lib/app/app.js';
import { StoragePoolError } from '../../lib/errors.js';
import type { CommandResult, CommandRunner } from '../../lib/storage/command-runner.js';
import { lvmArgv, mapperName, parseLvsReport } from '../../lib/storage/drivers/lvm-commands.js';
import { ThinPool } from '../../lib/storage/drivers/lvm-thin.js';
import type { StorageContext } from '../../lib/storage/pool.js';
import type { Volume } from '../../lib/storage/volume.js';
import { tmpDir } from '../helpers.js';
import { pinUid, SimulatedRunner, type Call } from './simulated-runner.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lvm');
const GiB = 1024 ** 3;
const VG = 'qubes_dom0';

/** The spec's lvs command, spelled independently of the driver. */
const LVS_ARGV = [
  'lvm', 'lvs', '--quiet', '--quiet', '--noheadings', '-o',
  'vg_name,pool_lv,name,lv_size,data_percent,lv_attr,origin,lv_metadata_size,metadata_percent',
  '--units', 'b', '--reportformat=json',
];

// ---------------------------------------------------------------- fake lvm

interface FakeLv {
  size: number;
  /** lv_attr; [0] t = thin pool, V = thin volume; [4] a = active. */
  attr: string;
  origin: string;
  poolLv: string;
  dataPercent: string;
  metadataSize?: number;
  metadataPercent?: string;
}

const ok = (stdout = '', stderr = ''): CommandResult => ({ exitCode: 0, stdout, stderr });
const fail = (exitCode: number, stderr: string): CommandResult => ({ exitCode, stdout: '', stderr: `${stderr}\n` });

class FakeLvm extends SimulatedRunner {
  readonly lvs = new Map<string, FakeLv>();
  ddExit = 0;
  /** Calls already returned by take(). */
  private taken = 0;

  constructor(readonly devDir: string) {
    super();
  }

  thinPool(id: string, size: number): void {
    this.lvs.set(id, { size, attr: 'twi-aotz--', origin: '', poolLv: '', dataPercent: '13.57', metadataSize: 109051904, metadataPercent: '9.02' });
  }

  /** A thin volume in vm-pool, active unless attr says otherwise. */
  thinLv(id: string, size: number, more: Partial<FakeLv> = {}): void {
    const lv = { size, attr: 'Vwi-a-tz--', origin: '', poolLv: 'vm-pool', dataPercent: '5.00', ...more };
    this.lvs.set(id, lv);
    if (lv.attr[4] === 'a') this.touch(id);
  }

  dev(id: string): string {
    return path.join(this.devDir, id);
  }
  private touch(id: string): void {
    fs.mkdirSync(path.dirname(this.dev(id)), { recursive: true });
    fs.writeFileSync(this.dev(id), '');
  }

  protected act(argv: readonly string[]): CommandResult {
    const [cmd, ...args] = argv[0] === 'sudo' ? argv.slice(1) : argv;
    if (cmd === 'blkdiscard') return ok();
    if (cmd === 'dd') return this.ddExit ? fail(this.ddExit, 'dd: error writing: No space left on device') : ok();
    if (cmd !== 'lvm') return fail(127, `${cmd}: not faked`);
    return this.lvm(args);
  }

  private lvm(args: string[]): CommandResult {
    const [sub, ...rest] = args;
    const sep = rest.indexOf('--');
    const opts = sep < 0 ? rest : rest.slice(0, sep);
    const pos = sep < 0 ? [] : rest.slice(sep + 1);
    const opt = (name: string) => opts.find((o) => o.startsWith(`--${name}=`))?.slice(name.length + 3);
    const byteOpt = (name: string) => Number(/^(\d+)B$/.exec(opt(name) ?? '')?.[1] ?? NaN);
    switch (sub) {
      case 'lvs':
        return JSON.stringify(args) === JSON.stringify(LVS_ARGV.slice(1)) ? ok(this.report()) : fail(3, `  unexpected lvs arguments ${args.join(' ')}`);
      case 'lvcreate':
        if (opts.includes('--snapshot')) return this.snapshot(opt('name') ?? '', pos[0] ?? '');
        return this.create(opt('name') ?? '', byteOpt('virtualsize'), pos[0] ?? '');
      case 'lvremove': {
        const id = pos[0] ?? '';
        if (!this.lvs.delete(id)) return fail(5, `  Failed to find logical volume "${id}"`);
        fs.rmSync(this.dev(id), { force: true });
        return ok(`  Logical volume "${id.split('/')[1]}" successfully removed.\n`);
      }
      case 'lvrename':
        return this.rename(pos[0] ?? '', pos[1] ?? '');
      case 'lvresize': {
        const lv = this.lvs.get(pos[0] ?? '');
        if (!lv) return fail(5, `  Failed to find logical volume "${pos[0]}"`);
        lv.size = byteOpt('size');
        return ok(`  Logical volume ${pos[0]} successfully resized.\n`);
      }
      case 'lvchange': {
        const id = (pos[0] ?? '').replace(/^\/dev\//, '');
        const lv = this.lvs.get(id);
        if (!lv) return fail(5, `  Failed to find logical volume "${id}"`);
        lv.attr = `${lv.attr.slice(0, 4)}a${lv.attr.slice(5)}`;
        this.touch(id);
        return ok();
      }
      default:
        return fail(3, `  no such command '${sub}'`);
    }
  }

  /** LVM's notice when thin volumes together are larger than their pool (the driver must drop it). */
  private overprovisioned(poolId: string): string {
    const pool = this.lvs.get(poolId);
    const sum = [...this.lvs].filter(([id, lv]) => `${id.split('/')[0]}/${lv.poolLv}` === poolId).reduce((s, [, lv]) => s + lv.size, 0);
    return pool && sum > pool.size
      ? `  WARNING: Sum of all thin volume sizes (${sum}B) exceeds the size of thin pool ${poolId} (${pool.size}B).\n`
      : '';
  }

  private create(name: string, size: number, poolId: string): CommandResult {
    const pool = this.lvs.get(poolId);
    if (!pool || pool.attr[0] !== 't') return fail(5, `  Thin pool ${poolId} not found`);
    const vg = poolId.split('/')[0]!;
    if (this.lvs.has(`${vg}/${name}`)) return fail(5, `  Logical Volume "${name}" already exists in volume group "${vg}"`);
    this.thinLv(`${vg}/${name}`, size, { poolLv: poolId.split('/')[1]!, dataPercent: '0.00' });
    return ok(`  Logical volume "${name}" created.\n`, this.overprovisioned(poolId));
  }

  private snapshot(name: string, originArg: string): CommandResult {
    const originId = originArg.replace(/^\/dev\//, '');
    const origin = this.lvs.get(originId);
    if (!origin) return fail(5, `  Failed to find logical volume "${originId}"`);
    const vg = originId.split('/')[0]!;
    const id = name.includes('/') ? name : `${vg}/${name}`;
    if (this.lvs.has(id)) return fail(5, `  Logical Volume "${id.split('/')[1]}" already exists in volume group "${vg}"`);
    this.thinLv(id, origin.size, { poolLv: origin.poolLv, origin: originId.split('/')[1]!, dataPercent: origin.dataPercent });
    return ok(`  Logical volume "${id.split('/')[1]}" created.\n`, this.overprovisioned(`${vg}/${origin.poolLv}`));
  }

  private rename(from: string, to: string): CommandResult {
    const [vg, a] = from.split('/') as [string, string];
    const b = to.split('/')[1]!;
    const lv = this.lvs.get(from);
    if (!lv) return fail(5, `  Existing logical volume "${a}" not found in volume group "${vg}"`);
    if (this.lvs.has(to)) return fail(5, `  Logical Volume "${b}" already exists in volume group "${vg}"`);
    this.lvs.delete(from);
    this.lvs.set(to, lv);
    // A snapshot refers to its origin, whatever the origin's name becomes.
    for (const other of this.lvs.values()) if (other.origin === a) other.origin = b;
    if (fs.existsSync(this.dev(from))) fs.renameSync(this.dev(from), this.dev(to));
    return ok(`  Renamed "${a}" to "${b}" in volume group "${vg}"\n`);
  }

  /** Like lvm 2.03: sorted by VG and name, one object per line. */
  private report(): string {
    const rows = [...this.lvs.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, lv]) => {
        const [vg, name] = id.split('/') as [string, string];
        const active = lv.attr[4] === 'a';
        const thin = lv.attr[0] === 't' || lv.attr[0] === 'V';
        return JSON.stringify({
          vg_name: vg,
          pool_lv: lv.poolLv,
          lv_name: name,
          lv_size: `${lv.size}B`,
          data_percent: active && thin ? lv.dataPercent : '',
          lv_attr: lv.attr,
          origin: lv.origin,
          lv_metadata_size: lv.metadataSize === undefined ? '' : `${lv.metadataSize}B`,
          metadata_percent: lv.metadataPercent ?? '',
        }).replace(/","/g, '", "');
      });
    return `  {\n      "report": [\n          {\n              "lv": [\n${rows.map((r) => `                  ${r}`).join(',\n')}\n              ]\n          }\n      ]\n  }\n`;
  }

  /**
   * The commands issued since the last take(), without the `lvs` reloads,
   * as lines with the device directory shown as /dev. Checks on the way
   * that every lvm change was followed by a reload and that lvm and
   * blkdiscard ran with LC_ALL=C.UTF-8.
   */
  take(concurrent = false): string[] {
    const calls = this.calls.slice(this.taken);
    this.taken = this.calls.length;
    const isLvs = (c: Call | undefined) => c !== undefined && JSON.stringify(c.argv.slice(c.argv[0] === 'sudo' ? 1 : 0)) === JSON.stringify(LVS_ARGV);
    calls.forEach((c, i) => {
      const prog = c.argv[0] === 'sudo' ? c.argv[1] : c.argv[0];
      if (prog === 'lvm' || prog === 'blkdiscard') expect(c.env).toEqual({ LC_ALL: 'C.UTF-8' });
      // Operations running side by side interleave: then the reload only has to come later.
      const reloaded = concurrent ? calls.slice(i + 1).some(isLvs) : isLvs(calls[i + 1]);
      if (prog === 'lvm' && !isLvs(c)) expect([c.argv.join(' '), reloaded]).toEqual([c.argv.join(' '), true]);
    });
    return calls.filter((c) => !isLvs(c)).map((c) => c.argv.join(' ').replaceAll(this.devDir, '/dev'));
  }
}

// ---------------------------------------------------------------- setup

const setUid = pinUid();

interface World {
  fake: FakeLvm;
  pool: ThinPool;
  ctx: StorageContext;
  clock: { ms: number };
  devDir: string;
}

const poolRecord = (name: string, thinPool: string, more: [string, string][] = []) =>
  new Pool([['name', name], ['volume_group', VG], ['thin_pool', thinPool], ['driver', 'lvm_thin'], ...more]);

/** A fake LVM with thin pool qubes_dom0/vm-pool (400 GiB) and the pool `lvm` on it. */
function world(): World {
  const devDir = tmpDir('lvm-thin-dev-');
  const fake = new FakeLvm(devDir);
  fake.thinPool(`${VG}/vm-pool`, 400 * GiB);
  const clock = { ms: 1521000000000 };
  const ctx: StorageContext = { runner: fake, now: () => clock.ms, runDir: path.join(devDir, 'run'), devDir };
  return { fake, pool: new ThinPool(poolRecord('lvm', 'vm-pool'), ctx), ctx, clock, devDir };
}

const owner = (name: string) => ({ name, klass: 'AppVM' });

function origin(pool: ThinPool, vm: string, name: string, size: number, revisionsToKeep = 1, rw = true): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw, snapOnStart: false, saveOnStop: true, revisionsToKeep, size }, owner(vm));
}
function snapshot(pool: ThinPool, vm: string, name: string, source: string, size: number): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw: true, snapOnStart: true, saveOnStop: false, source, revisionsToKeep: 0, size }, owner(vm));
}
function volatile(pool: ThinPool, vm: string, name: string, size: number): Volume {
  return pool.initVolume({ name, pool: pool.name, vid: '', rw: true, snapOnStart: false, saveOnStop: false, revisionsToKeep: 0, size }, owner(vm));
}

const rm = (lv: string) => [`blkdiscard -p 1G /dev/${lv}`, `lvm lvremove --force -- ${lv}`];
const clone = (src: string, dst: string) => `lvm lvcreate --setactivationskip=n --activate=y --snapshot --type=thin --name=${dst} -- ${src}`;
const create = (name: string, size: number) =>
  `lvm lvcreate --thin --setactivationskip=n --activate=y --name=${name} --virtualsize=${size}B -- ${VG}/vm-pool`;
const rename = (a: string, b: string) => `lvm lvrename -- ${a} ${b}`;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoragePoolError);
    return e as Error;
  }
  throw new Error('expected a StoragePoolError');
}

// ---------------------------------------------------------------- tests

describe('the worked sequence of the spec (AppVM work, template fedora, qubes_dom0/vm-pool, as root)', () => {
  test('create, start and stop issue exactly the reference commands; stop commits with the revision time', async () => {
    const { fake, pool, clock } = world();
    fake.thinLv(`${VG}/vm-fedora-root`, 10 * GiB);
    const root = snapshot(pool, 'work', 'root', `${VG}/vm-fedora-root`, 10 * GiB);
    const priv = origin(pool, 'work', 'private', 2 * GiB);
    const vol = volatile(pool, 'work', 'volatile', 10 * GiB);
    expect([root.vid, priv.vid, vol.vid]).toEqual([`${VG}/vm-work-root`, `${VG}/vm-work-private`, `${VG}/vm-work-volatile`]);

    await pool.create(root);
    await pool.create(priv);
    await pool.create(vol);
    expect(fake.take()).toEqual([create('vm-work-private', 2147483648)]);

    await pool.verify(root);
    await pool.verify(priv);
    await pool.start(root);
    await pool.start(priv);
    await pool.start(vol);
    expect(fake.take()).toEqual([
      clone(`${VG}/vm-fedora-root`, `${VG}/vm-work-root-snap`),
      clone(`${VG}/vm-work-private`, `${VG}/vm-work-private-snap`),
      create('vm-work-volatile', 10737418240),
    ]);
    expect(await pool.isDirty(priv)).toBe(true);
    expect(pool.warnings).toEqual([]);

    clock.ms = 1521065904000;
    await pool.stop(priv);
    await pool.stop(root);
    await pool.stop(vol);
    expect(fake.take()).toEqual([
      rename(`${VG}/vm-work-private`, `${VG}/vm-work-private-1521065904-back`),
      rename(`${VG}/vm-work-private-snap`, `${VG}/vm-work-private`),
      ...rm(`${VG}/vm-work-root-snap`),
      ...rm(`${VG}/vm-work-volatile`),
    ]);
    expect(await pool.revisions(priv)).toEqual([{ id: '1521065904-back', timestamp: '2018-03-14T22:18:24' }]);
    expect(await pool.isDirty(priv)).toBe(false);
    expect([...fake.lvs.keys()].filter((k) => k.includes('work')).sort()).toEqual([`${VG}/vm-work-private`, `${VG}/vm-work-private-1521065904-back`]);

    // Stop again: nothing left to commit or discard.
    await pool.stop(priv);
    await pool.stop(root);
    await pool.stop(vol);
    expect(fake.take()).toEqual([]);

    // A second run: the older revision goes beyond revisions_to_keep=1.
    await pool.start(priv);
    clock.ms = 1521070000000;
    await pool.stop(priv);
    expect(fake.take()).toEqual([
      clone(`${VG}/vm-work-private`, `${VG}/vm-work-private-snap`),
      rename(`${VG}/vm-work-private`, `${VG}/vm-work-private-1521070000-back`),
      rename(`${VG}/vm-work-private-snap`, `${VG}/vm-work-private`),
      ...rm(`${VG}/vm-work-private-1521065904-back`),
    ]);
    expect((await pool.revisions(priv)).map((r) => r.id)).toEqual(['1521070000-back']);
  });

  test('volumes started together keep their own order', async () => {
    const { fake, pool } = world();
    fake.thinLv(`${VG}/vm-fedora-root`, 10 * GiB);
    fake.thinLv(`${VG}/vm-work-private`, 2 * GiB);
    fake.thinLv(`${VG}/vm-work-root-snap`, 10 * GiB, { origin: 'vm-fedora-root' }); // stale, from a crash
    const vols = [snapshot(pool, 'work', 'root', `${VG}/vm-fedora-root`, 10 * GiB), origin(pool, 'work', 'private', 2 * GiB), volatile(pool, 'work', 'volatile', 10 * GiB)];
    await Promise.all(vols.map((v) => pool.start(v)));
    const lines = fake.take(true);
    expect(lines.filter((l) => l.includes('work-root'))).toEqual([...rm(`${VG}/vm-work-root-snap`), clone(`${VG}/vm-fedora-root`, `${VG}/vm-work-root-snap`)]);
    expect(lines.filter((l) => l.includes('work-private'))).toEqual([clone(`${VG}/vm-work-private`, `${VG}/vm-work-private-snap`)]);
    expect(lines.filter((l) => l.includes('work-volatile'))).toEqual([create('vm-work-volatile', 10737418240)]);
    expect(lines).toHaveLength(5);
  });

  test('operations on one volume do not overlap: a stop issued with the start commits what the start made', async () => {
    const { fake, pool, clock } = world();
    fake.thinLv(`${VG}/vm-work-private`, 2 * GiB);
    const priv = origin(pool, 'work', 'private', 2 * GiB);
    clock.ms = 1600000000000;
    await Promise.all([pool.start(priv), pool.stop(priv)]);
    expect(fake.take(true)).toEqual([
      clone(`${VG}/vm-work-private`, `${VG}/vm-work-private-snap`),
      rename(`${VG}/vm-work-private`, `${VG}/vm-work-private-1600000000-back`),
      rename(`${VG}/vm-work-private-snap`, `${VG}/vm-work-private`),
    ]);
  });
});

describe('revisions', () => {
  async function cycles(pool: ThinPool, v: Volume, clock: { ms: number }, times: number[]): Promise<void> {
    for (const t of times) {
      await pool.start(v);
      clock.ms = t * 1000;
      await pool.stop(v);
    }
  }

  test('pruned to revisions_to_keep, oldest first', async () => {
    const { fake, pool, clock } = world();
    const v = origin(pool, 'work', 'private', 2 * GiB, 2);
    await pool.create(v);
    await cycles(pool, v, clock, [1000, 2000, 3000]);
    expect((await pool.revisions(v)).map((r) => r.id)).toEqual(['2000-back', '3000-back']);
    fake.take();
    await cycles(pool, v, clock, [4000]);
    expect(fake.take().slice(-2)).toEqual(rm(`${VG}/vm-work-private-2000-back`));
    expect(await pool.revisions(v)).toEqual([
      { id: '3000-back', timestamp: '1970-01-01T00:50:00' },
      { id: '4000-back', timestamp: '1970-01-01T01:06:40' },
    ]);
  });

  test('revisions_to_keep 0 keeps none; the committed LV stays', async () => {
    const { fake, pool, clock } = world();
    const v = origin(pool, 'work', 'private', 2 * GiB, 0);
    await pool.create(v);
    await cycles(pool, v, clock, [1000]);
    expect(await pool.revisions(v)).toEqual([]);
    expect(fake.lvs.has(`${VG}/vm-work-private`)).toBe(true);
  });

  test('revisions are sorted by their time, not by name', async () => {
    const { fake, pool } = world();
    fake.thinLv(`${VG}/vm-x-private`, GiB);
    fake.thinLv(`${VG}/vm-x-private-999-back`, GiB);
    fake.thinLv(`${VG}/vm-x-private-10000-back`, GiB);
    expect((await pool.revisions(origin(pool, 'x', 'private', GiB))).map((r) => r.id)).toEqual(['999-back', '10000-back']);
  });

  test("another qube's LVs sharing the name prefix are not revisions (qubes-issues#4680)", async () => {
    const { fake, pool } = world();
    fake.thinLv(`${VG}/vm-work-private`, GiB);
    fake.thinLv(`${VG}/vm-work-private-1000-back`, GiB);
    fake.thinLv(`${VG}/vm-work-private-private`, GiB); // qube "work-private"
    fake.thinLv(`${VG}/vm-work-private-private-2000-back`, GiB);
    const v = origin(pool, 'work', 'private', GiB);
    expect((await pool.revisions(v)).map((r) => r.id)).toEqual(['1000-back']);
    await pool.remove(v);
    expect(fake.take()).toEqual([...rm(`${VG}/vm-work-private-1000-back`), ...rm(`${VG}/vm-work-private`)]);
    expect([...fake.lvs.keys()].filter((k) => k.includes('work'))).toEqual([`${VG}/vm-work-private-private`, `${VG}/vm-work-private-private-2000-back`]);
  });

  test('snapshots disabled (revisions_to_keep -1): start drops the revisions and makes no copy; stop does nothing', async () => {
    const { fake, pool, devDir } = world();
    fake.thinLv(`${VG}/vm-x-private`, GiB);
    fake.thinLv(`${VG}/vm-x-private-100-back`, GiB);
    fake.thinLv(`${VG}/vm-x-private-200-back`, GiB);
    const v = origin(pool, 'x', 'private', GiB, -1);
    await pool.start(v);
    expect(fake.take()).toEqual([...rm(`${VG}/vm-x-private-100-back`), ...rm(`${VG}/vm-x-private-200-back`)]);
    expect(pool.blockDevice(v).path).toBe(path.join(devDir, 'mapper', 'qubes_dom0-vm--x--private'));
    await pool.stop(v);
    expect(fake.take()).toEqual([]);
    expect(await pool.isDirty(v)).toBe(false);
  });
});

describe('interrupted commit (qubes-issues#2256): -back and -snap, no current LV', () => {
  function interrupted(w: World): Volume {
    w.fake.thinLv(`${VG}/vm-x-private-100-back`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-200-back`, GiB, { attr: 'Vwi---tz--' }); // renamed current, not yet active after boot
    w.fake.thinLv(`${VG}/vm-x-private-snap`, GiB, { origin: 'vm-x-private-200-back' });
    return origin(w.pool, 'x', 'private', GiB);
  }

  test('path falls back to the newest revision once LVM was read', async () => {
    const w = world();
    const v = interrupted(w);
    expect(w.pool.path(v)).toBe(path.join(w.devDir, VG, 'vm-x-private')); // nothing read yet
    expect(await w.pool.isDirty(v)).toBe(true);
    expect(w.pool.path(v)).toBe(path.join(w.devDir, VG, 'vm-x-private-200-back'));
    await w.pool.verify(v);
  });

  test('start keeps the -snap (activating the current LV); stop completes the commit and prunes', async () => {
    const w = world();
    const v = interrupted(w);
    await w.pool.start(v);
    expect(w.fake.take()).toEqual([`lvm lvchange --activate=y -- ${VG}/vm-x-private-200-back`]);
    expect(w.fake.lvs.get(`${VG}/vm-x-private-snap`)?.origin).toBe('vm-x-private-200-back');

    w.clock.ms = 300000;
    await w.pool.stop(v);
    expect(w.fake.take()).toEqual([rename(`${VG}/vm-x-private-snap`, `${VG}/vm-x-private`), ...rm(`${VG}/vm-x-private-100-back`)]);
    expect(w.pool.path(v)).toBe(path.join(w.devDir, VG, 'vm-x-private'));
    expect((await w.pool.revisions(v)).map((r) => r.id)).toEqual(['200-back']);
  });

  test('a dirty origin whose LV is active starts with no command at all', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-snap`, GiB, { origin: 'vm-x-private' });
    await w.pool.start(origin(w.pool, 'x', 'private', GiB));
    expect(w.fake.take()).toEqual([]);
  });

  test('remove takes everything, the newest revision last', async () => {
    const w = world();
    const v = interrupted(w);
    w.fake.lvs.get(`${VG}/vm-x-private-200-back`)!.attr = 'Vwi-a-tz--';
    fs.writeFileSync(w.fake.dev(`${VG}/vm-x-private-200-back`), '');
    await w.pool.remove(v);
    expect(w.fake.take()).toEqual([...rm(`${VG}/vm-x-private-snap`), ...rm(`${VG}/vm-x-private-100-back`), ...rm(`${VG}/vm-x-private-200-back`)]);
    expect([...w.fake.lvs.keys()]).toEqual([`${VG}/vm-pool`]);
  });
});

describe('revert', () => {
  function withRevisions(w: World): Volume {
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-100-back`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-200-back`, GiB);
    return origin(w.pool, 'x', 'private', GiB, 2);
  }

  test('the newest by default: the current LV is removed and the revision cloned; the revision stays', async () => {
    const w = world();
    const v = withRevisions(w);
    await w.pool.revert(v);
    expect(w.fake.take()).toEqual([...rm(`${VG}/vm-x-private`), clone(`${VG}/vm-x-private-200-back`, `${VG}/vm-x-private`)]);
    expect((await w.pool.revisions(v)).map((r) => r.id)).toEqual(['100-back', '200-back']);
    expect(w.fake.lvs.get(`${VG}/vm-x-private`)?.origin).toBe('vm-x-private-200-back');
  });

  test('a named revision', async () => {
    const w = world();
    const v = withRevisions(w);
    await w.pool.revert(v, '100-back');
    expect(w.fake.take()).toEqual([...rm(`${VG}/vm-x-private`), clone(`${VG}/vm-x-private-100-back`, `${VG}/vm-x-private`)]);
  });

  test('refused while dirty, for a revision without device node, and without revisions', async () => {
    const w = world();
    const v = withRevisions(w);
    w.fake.lvs.get(`${VG}/vm-x-private-100-back`)!.attr = 'Vwi---tz--';
    fs.rmSync(w.fake.dev(`${VG}/vm-x-private-100-back`));
    expect((await rejection(w.pool.revert(v, '100-back'))).message).toBe(`Volume ${VG}/vm-x-private has no ${w.devDir}/${VG}/vm-x-private-100-back`);
    await w.pool.start(v);
    expect((await rejection(w.pool.revert(v))).message).toBe(`Cannot revert dirty volume ${VG}/vm-x-private, stop the qube first`);
    w.fake.thinLv(`${VG}/vm-y-private`, GiB);
    expect((await rejection(w.pool.revert(origin(w.pool, 'y', 'private', GiB)))).message).toBe(`Volume ${VG}/vm-y-private has no revisions`);
    expect(w.fake.take().filter((l) => l.includes('lvremove'))).toEqual([]);
  });
});

describe('import', () => {
  test('importData: a new -import LV whose path is returned; success commits it like a stop', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    const v = origin(w.pool, 'x', 'private', GiB);
    const target = await w.pool.importData(v, 3 * GiB);
    expect(target).toBe(path.join(w.devDir, VG, 'vm-x-private-import'));
    expect(fs.existsSync(target)).toBe(true);
    expect(w.fake.take()).toEqual([create('vm-x-private-import', 3 * GiB)]);

    expect((await rejection(w.pool.start(v))).message).toBe(`Import operation in progress on ${VG}/vm-x-private`);
    expect((await rejection(w.pool.importData(v, GiB))).message).toBe(`Import operation in progress on ${VG}/vm-x-private`);
    await w.pool.resize(v, 4 * GiB);
    expect(w.fake.take()).toEqual([`lvm lvresize --size=${4 * GiB}B -- ${VG}/vm-x-private-import`]);

    w.clock.ms = 1521065904000;
    await w.pool.importDataEnd(v, true);
    expect(w.fake.take()).toEqual([
      rename(`${VG}/vm-x-private`, `${VG}/vm-x-private-1521065904-back`),
      rename(`${VG}/vm-x-private-import`, `${VG}/vm-x-private`),
    ]);
    expect(await w.pool.size(v)).toBe(4 * GiB);
  });

  test('an -import LV a killed command left is removed by the next operation on the volume, not refused forever', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    // left by an import whose process died: nobody holds the volume's lock
    w.fake.thinLv(`${VG}/vm-x-private-import`, GiB);
    const v = origin(w.pool, 'x', 'private', GiB);
    await w.pool.start(v);
    expect(w.fake.take()).toEqual([...rm(`${VG}/vm-x-private-import`), clone(`${VG}/vm-x-private`, `${VG}/vm-x-private-snap`)]);
    await w.pool.stop(v);
    w.fake.take();
    w.fake.thinLv(`${VG}/vm-x-private-import`, GiB);
    expect(await w.pool.importData(v, 2 * GiB)).toBe(path.join(w.devDir, VG, 'vm-x-private-import'));
    expect(w.fake.take()).toEqual([...rm(`${VG}/vm-x-private-import`), create('vm-x-private-import', 2 * GiB)]);
    await w.pool.importDataEnd(v, false);
  });

  test('importDataEnd(false) drops the -import LV; without an import it is an error', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    const v = origin(w.pool, 'x', 'private', GiB);
    await w.pool.importData(v, GiB);
    w.fake.take();
    await w.pool.importDataEnd(v, false);
    expect(w.fake.take()).toEqual(rm(`${VG}/vm-x-private-import`));
    expect((await rejection(w.pool.importDataEnd(v, true))).message).toBe(`No import operation in progress on ${VG}/vm-x-private`);
  });

  test('no import into a running volume', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    w.fake.thinLv(`${VG}/vm-src-private`, GiB);
    const v = origin(w.pool, 'x', 'private', GiB);
    await w.pool.start(v);
    expect((await rejection(w.pool.importData(v, GiB))).message).toBe(`Cannot import data to dirty volume ${VG}/vm-x-private, stop the qube first`);
    const src = origin(w.pool, 'src', 'private', GiB);
    expect((await rejection(w.pool.importVolume(v, src, w.pool))).message).toBe(
      `Cannot import to dirty volume ${VG}/vm-x-private - start and stop a qube to cleanup`,
    );
  });

  test('importVolume in the same thin pool: the source is cloned straight into place', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-src-private`, 3 * GiB);
    w.fake.thinLv(`${VG}/vm-src-private-snap`, 3 * GiB, { origin: 'vm-src-private' }); // the source runs: its committed state is copied
    w.fake.thinLv(`${VG}/vm-dst-private`, GiB);
    const dst = origin(w.pool, 'dst', 'private', GiB);
    w.clock.ms = 1700000000000;
    await w.pool.importVolume(dst, origin(w.pool, 'src', 'private', 3 * GiB), w.pool);
    expect(w.fake.take()).toEqual([
      rename(`${VG}/vm-dst-private`, `${VG}/vm-dst-private-1700000000-back`),
      clone(`${VG}/vm-src-private`, `${VG}/vm-dst-private`),
    ]);
    expect(await w.pool.size(dst)).toBe(3 * GiB);
  });

  test('importVolume from another pool: -import of the source size, dd, commit', async () => {
    const w = world();
    w.fake.thinPool(`${VG}/other-pool`, 100 * GiB);
    w.fake.thinLv(`${VG}/vm-src-private`, 3 * GiB, { poolLv: 'other-pool' });
    w.fake.thinLv(`${VG}/vm-dst-private`, GiB);
    const other = new ThinPool(poolRecord('lvm-other', 'other-pool'), w.ctx);
    const src = origin(other, 'src', 'private', 2 * GiB);
    const dst = origin(w.pool, 'dst', 'private', GiB);
    w.clock.ms = 1700000000000;
    await w.pool.importVolume(dst, src, other);
    expect(w.fake.take()).toEqual([
      create('vm-dst-private-import', 3 * GiB),
      `lvm lvchange --activate=y -- /dev/${VG}/vm-src-private`,
      `dd if=/dev/${VG}/vm-src-private of=/dev/${VG}/vm-dst-private-import conv=sparse,nocreat,fsync status=none bs=128K`,
      rename(`${VG}/vm-dst-private`, `${VG}/vm-dst-private-1700000000-back`),
      rename(`${VG}/vm-dst-private-import`, `${VG}/vm-dst-private`),
    ]);
    expect(w.fake.calls.find((c) => c.argv.includes('dd'))?.argv[0]).toBe('dd');
  });

  test('a failed dd removes the -import LV and reports the exit code; an unreadable source gets dd through sudo', async () => {
    const w = world();
    w.fake.thinPool(`${VG}/other-pool`, 100 * GiB);
    w.fake.thinLv(`${VG}/vm-src-private`, 3 * GiB, { poolLv: 'other-pool', attr: 'Vwi---tz--' });
    w.fake.thinLv(`${VG}/vm-dst-private`, GiB);
    const other = new ThinPool(poolRecord('lvm-other', 'other-pool'), w.ctx);
    const src = origin(other, 'src', 'private', 3 * GiB);
    const dst = origin(w.pool, 'dst', 'private', GiB);
    w.fake.ddExit = 1;
    // The activation "succeeds" without a device node appearing: dd cannot read the source as this user.
    w.fake.script((a) => a.includes('lvchange'), { exitCode: 0, stdout: '', stderr: '' });
    expect((await rejection(w.pool.importVolume(dst, src, other))).message).toBe(
      `Failed to import volume 'lvm-other:${VG}/vm-src-private', dd exit code: 1`,
    );
    expect(w.fake.take()).toEqual([
      create('vm-dst-private-import', 3 * GiB),
      `lvm lvchange --activate=y -- /dev/${VG}/vm-src-private`,
      `sudo dd if=/dev/${VG}/vm-src-private of=/dev/${VG}/vm-dst-private-import conv=sparse,nocreat,fsync status=none bs=128K`,
      ...rm(`${VG}/vm-dst-private-import`),
    ]);
    expect(w.fake.lvs.has(`${VG}/vm-dst-private`)).toBe(true);
  });

  test('importVolume of a volume that is not save_on_stop does nothing', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-fedora-root`, GiB);
    w.fake.thinLv(`${VG}/vm-dst-root`, GiB);
    await w.pool.importVolume(origin(w.pool, 'dst', 'root', GiB), snapshot(w.pool, 'src', 'root', `${VG}/vm-fedora-root`, GiB), w.pool);
    expect(w.fake.take()).toEqual([]);
  });
});

describe('resize', () => {
  test('the LV the qube uses: committed when halted, -snap when running, -snap of a snapshot volume; volatile only nominal', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-fedora-root`, 10 * GiB);
    w.fake.thinLv(`${VG}/vm-x-private`, 2 * GiB);
    const priv = origin(w.pool, 'x', 'private', 2 * GiB);
    const root = snapshot(w.pool, 'x', 'root', `${VG}/vm-fedora-root`, 10 * GiB);
    const vol = volatile(w.pool, 'x', 'volatile', 10 * GiB);

    await w.pool.resize(priv, 3 * GiB);
    expect(w.fake.take()).toEqual([`lvm lvresize --size=${3 * GiB}B -- ${VG}/vm-x-private`]);
    await w.pool.resize(priv, 3 * GiB); // same size: nothing
    await w.pool.resize(vol, 20 * GiB);
    expect(w.fake.take()).toEqual([]);

    await w.pool.start(priv);
    await w.pool.start(root);
    w.fake.take();
    await w.pool.resize(priv, 4 * GiB);
    await w.pool.resize(root, 12 * GiB);
    expect(w.fake.take()).toEqual([
      `lvm lvresize --size=${4 * GiB}B -- ${VG}/vm-x-private-snap`,
      `lvm lvresize --size=${12 * GiB}B -- ${VG}/vm-x-root-snap`,
    ]);
    expect([await w.pool.size(priv), await w.pool.size(root)]).toEqual([4 * GiB, 12 * GiB]);
    // The growth reaches the committed LV with the commit's rename.
    await w.pool.stop(priv);
    expect(w.fake.lvs.get(`${VG}/vm-x-private`)?.size).toBe(4 * GiB);
  });

  test('a halted snapshot volume has no -snap to resize (lvm error); read-only volumes are refused', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-fedora-root`, 10 * GiB);
    const root = snapshot(w.pool, 'x', 'root', `${VG}/vm-fedora-root`, 10 * GiB);
    expect((await rejection(w.pool.resize(root, 12 * GiB))).message).toBe(`Failed to find logical volume "${VG}/vm-x-root-snap"`);
    const ro = origin(w.pool, 'x', 'private', GiB, 1, false);
    expect((await rejection(w.pool.resize(ro, 2 * GiB))).message).toBe(`Can not resize readonly volume ${VG}/vm-x-private`);
  });
});

describe('state queries', () => {
  test('is_outdated: a running snapshot whose source committed since it started', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-fedora-root`, 10 * GiB);
    const tmplRoot = origin(w.pool, 'fedora', 'root', 10 * GiB);
    const root = snapshot(w.pool, 'work', 'root', `${VG}/vm-fedora-root`, 10 * GiB);
    expect(await w.pool.isOutdated(root)).toBe(false); // not running
    await w.pool.start(root);
    expect(await w.pool.isOutdated(root)).toBe(false);
    await w.pool.start(tmplRoot);
    w.clock.ms = 1600000000000;
    await w.pool.stop(tmplRoot);
    expect(w.fake.lvs.get(`${VG}/vm-work-root-snap`)?.origin).toBe('vm-fedora-root-1600000000-back');
    expect(await w.pool.isOutdated(root)).toBe(true);
    expect(await w.pool.isOutdated(tmplRoot)).toBe(false);
    await w.pool.stop(root);
    await w.pool.start(root);
    expect(await w.pool.isOutdated(root)).toBe(false);
  });

  test('size: the running copy, else the committed LV (LVM rounds), else nominal; usage of the committed LV', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, 2 * GiB + 4 * 1024 ** 2, { dataPercent: '17.36' });
    const v = origin(w.pool, 'x', 'private', 2 * GiB);
    expect(await w.pool.size(v)).toBe(2 * GiB + 4 * 1024 ** 2);
    expect(await w.pool.usage(v)).toBe(Math.trunc(((2 * GiB + 4 * 1024 ** 2) / 100) * 17.36));
    expect(await w.pool.size(origin(w.pool, 'y', 'private', 5 * GiB))).toBe(5 * GiB);
    expect(await w.pool.usage(origin(w.pool, 'y', 'private', 5 * GiB))).toBe(0);
  });

  test('the lvs report is re-read after every change and by usage figures older than 30 s', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, 100 * GiB, { dataPercent: '10.00' });
    const v = origin(w.pool, 'x', 'private', GiB);
    const reads = () => w.fake.calls.filter((c) => c.argv.includes('lvs')).length;
    expect(await w.pool.usage(v)).toBe(10 * GiB);
    expect(reads()).toBe(1);
    w.fake.lvs.get(`${VG}/vm-x-private`)!.dataPercent = '20.00'; // the qube writes
    w.clock.ms += 30000;
    expect(await w.pool.usage(v)).toBe(10 * GiB);
    expect((await w.pool.space()).usage).toBe(Math.trunc(((400 * GiB) / 100) * 13.57));
    expect(reads()).toBe(1);
    w.clock.ms += 1;
    expect(await w.pool.usage(v)).toBe(20 * GiB);
    expect(reads()).toBe(2);
    await w.pool.resize(v, 200 * GiB);
    expect(reads()).toBe(3);
    expect(await w.pool.size(v)).toBe(200 * GiB);
  });

  test('verify needs the LV a start copies', async () => {
    const w = world();
    const root = snapshot(w.pool, 'x', 'root', `${VG}/vm-fedora-root`, GiB);
    expect((await rejection(w.pool.verify(root))).message).toBe(`volume ${VG}/vm-fedora-root missing`);
    expect((await rejection(w.pool.verify(origin(w.pool, 'x', 'private', GiB)))).message).toBe(`volume ${VG}/vm-x-private missing`);
    await w.pool.verify(volatile(w.pool, 'x', 'volatile', GiB));
    w.fake.thinLv(`${VG}/vm-fedora-root-5-back`, GiB, { attr: 'Vwi---tz--' }); // only a revision: inactive is fine
    await w.pool.refresh(); // changed behind the driver's back
    await w.pool.verify(root);
  });

  test('block devices by their device-mapper names; volume ids from the qube; ephemeral mapping', async () => {
    const w = world();
    const mapper = (n: string) => path.join(w.devDir, 'mapper', n);
    const priv = origin(w.pool, 'sys-net', 'private', GiB);
    const root = snapshot(w.pool, 'sys-net', 'root', `${VG}/vm-fedora-root`, GiB);
    const vol = volatile(w.pool, 'sys-net', 'volatile', GiB);
    expect(w.pool.blockDevice(priv)).toEqual({ path: mapper('qubes_dom0-vm--sys--net--private--snap'), name: 'private', rw: true, devtype: 'disk' });
    expect(w.pool.blockDevice(root).path).toBe(mapper('qubes_dom0-vm--sys--net--root--snap'));
    expect(w.pool.blockDevice(vol).path).toBe(mapper('qubes_dom0-vm--sys--net--volatile'));
    expect(w.pool.encryptedVolumePath(vol)).toBe(`${mapper('qubes_dom0-vm--sys--net--volatile')}@crypt`);
    expect(mapperName('my-vg/vm-a-b')).toBe('my--vg-vm--a--b');
    expect(w.pool.initVolume({ ...priv.settings(), vid: `${VG}/custom` }).vid).toBe(`${VG}/custom`);
    expect(w.pool.initVolume({ ...priv.settings(), vid: '' }).vid).toMatch(/^qubes_dom0\/vm-[0-9a-f]{16}-private$/);
  });

  test('remove: running copy, import leftover, revisions, current; absent LVs are skipped silently', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-x-private`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-snap`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-import`, GiB);
    w.fake.thinLv(`${VG}/vm-x-private-100-back`, GiB, { attr: 'Vwi---tz--' }); // inactive: no device node, skipped
    w.fake.thinLv(`${VG}/vm-x-private-200-back`, GiB);
    await w.pool.remove(origin(w.pool, 'x', 'private', GiB));
    expect(w.fake.take()).toEqual([
      ...rm(`${VG}/vm-x-private-snap`),
      ...rm(`${VG}/vm-x-private-import`),
      ...rm(`${VG}/vm-x-private-200-back`),
      ...rm(`${VG}/vm-x-private`),
    ]);
    await w.pool.remove(volatile(w.pool, 'y', 'volatile', GiB));
    expect(w.fake.take()).toEqual([]);
  });
});

describe('pool', () => {
  test('setup: the thin pool must exist and be a thin pool', async () => {
    const w = world();
    await w.pool.setup();
    const missing = new ThinPool(poolRecord('p', 'nope'), w.ctx);
    expect((await rejection(missing.setup())).message).toBe(`Thin pool ${VG}/nope does not exist`);
    w.fake.lvs.set(`${VG}/swap`, { size: GiB, attr: '-wi-ao----', origin: '', poolLv: '', dataPercent: '' });
    const notThin = new ThinPool(poolRecord('p', 'swap'), w.ctx);
    expect((await rejection(notThin.setup())).message).toBe(`Volume ${VG}/swap is not a thin pool`);
    expect(w.fake.take()).toEqual([]);
  });

  test('space and listVolumes from the report', async () => {
    const w = world();
    w.fake.thinLv(`${VG}/vm-a-private`, GiB);
    w.fake.thinLv(`${VG}/vm-a-private-snap`, GiB);
    w.fake.thinLv(`${VG}/vm-a-private-7-back`, GiB);
    w.fake.thinLv(`${VG}/vm-b-private-import`, GiB);
    w.fake.thinPool(`${VG}/other-pool`, GiB);
    w.fake.thinLv(`${VG}/vm-c-private`, GiB, { poolLv: 'other-pool' });
    expect(await w.pool.listVolumes()).toEqual([`${VG}/vm-a-private`]);
    expect(await w.pool.space()).toEqual({
      size: 400 * GiB,
      usage: Math.trunc(((400 * GiB) / 100) * 13.57),
      details: { data_size: 400 * GiB, data_usage: Math.trunc(((400 * GiB) / 100) * 13.57), metadata_size: 109051904, metadata_usage: 9836481 },
    });
  });

  test('the constructor takes the lvm_thin options only', () => {
    const w = world();
    expect(() => new ThinPool(poolRecord('p', 'vm-pool', [['dir_path', '/x']]), w.ctx)).toThrow('Unexpected driver options found: dir_path');
    const p = new ThinPool(poolRecord('p', 'vm-pool', [['revisions_to_keep', '3']]), w.ctx);
    expect([p.driver, p.volumeGroup, p.thinPool, p.poolId, p.revisionsToKeep]).toEqual(['lvm_thin', VG, 'vm-pool', `${VG}/vm-pool`, 3]);
  });
});

describe('running lvm', () => {
  test('not root: every lvm and blkdiscard goes through sudo; root: none does', async () => {
    for (const uid of [1000, 0]) {
      setUid(uid);
      const w = world();
      w.fake.thinLv(`${VG}/vm-fedora-root`, GiB);
      const v = origin(w.pool, 'x', 'private', GiB);
      const root = snapshot(w.pool, 'x', 'root', `${VG}/vm-fedora-root`, GiB);
      await w.pool.create(v);
      await w.pool.start(v);
      await w.pool.start(root);
      await w.pool.stop(root);
      await w.pool.stop(v);
      await w.pool.export(v);
      const progs = w.fake.calls.map((c) => c.argv.slice(0, uid ? 2 : 1).join(' '));
      expect(new Set(progs)).toEqual(new Set(uid ? ['sudo lvm', 'sudo blkdiscard'] : ['lvm', 'blkdiscard']));
      expect(w.fake.calls.length).toBeGreaterThan(10);
    }
  });

  test('stderr: over-provisioning notices are dropped, other output of a success is a warning, a failure is the error', async () => {
    const w = world();
    const small = new ThinPool(poolRecord('small', 'small-pool'), w.ctx);
    w.fake.thinPool(`${VG}/small-pool`, GiB);
    const v = origin(small, 'x', 'private', 2 * GiB);
    await small.create(v); // 2 GiB in a 1 GiB pool: lvm warns, intended
    expect(w.fake.calls.at(-2)?.argv[1]).toBe('lvcreate');
    expect(small.warnings).toEqual([]);

    w.fake.script(
      (a) => a.includes('lvcreate'),
      (real) => ({ ...real(), stderr: `  WARNING: Sum of all thin volume sizes (4.00 GiB) exceeds the size of thin pool ${VG}/small-pool (1.00 GiB).\n  WARNING: This metadata update is NOT backed up.\n` }),
    );
    await small.start(v);
    expect(await small.isDirty(v)).toBe(true);
    expect(small.warnings).toEqual(['  WARNING: This metadata update is NOT backed up.']);

    w.fake.script((a) => a.includes('lvrename'), {
      exitCode: 5,
      stdout: '',
      stderr: `  WARNING: Sum of all thin volume sizes (4.00 GiB) exceeds the size of thin pool ${VG}/small-pool (1.00 GiB).\n  Logical Volume "vm-x-private-0-back" already exists in volume group "${VG}"\n`,
    });
    w.clock.ms = 0;
    expect((await rejection(small.stop(v))).message).toBe(`Logical Volume "vm-x-private-0-back" already exists in volume group "${VG}"`);
    expect(await small.isDirty(v)).toBe(true); // nothing lost: the running copy is still there

    expect((await rejection(small.create(v))).message).toBe(`Logical Volume "vm-x-private" already exists in volume group "${VG}"`);
  });

  test('a failing lvs is the error', async () => {
    const w = world();
    w.fake.script((a) => a.includes('lvs'), { exitCode: 5, stdout: '', stderr: '  Volume group "qubes_dom0" not found\n  Cannot process volume group qubes_dom0\n' });
    expect((await rejection(w.pool.setup())).message).toBe('Volume group "qubes_dom0" not found\n  Cannot process volume group qubes_dom0');
  });

  test('the argv builder refuses removals that do not name one LV', () => {
    expect(() => lvmArgv({ op: 'remove', lv: '/dev/qubes_dom0/x' })).toThrow(StoragePoolError);
    expect(() => lvmArgv({ op: 'remove', lv: 'qubes_dom0' })).toThrow(StoragePoolError);
    expect(lvmArgv({ op: 'resize', lv: 'vg/lv', size: 5 })).toEqual(['lvm', 'lvresize', '--size=5B', '--', 'vg/lv']);
    expect(lvmArgv({ op: 'report' })).toEqual(LVS_ARGV);
  });
});

describe('a recorded lvs report (fixtures/lvm/lvs-qubes-dom0.json)', () => {
  const json = fs.readFileSync(path.join(FIXTURES, 'lvs-qubes-dom0.json'), 'utf8');

  test('parsed: sizes without the B, usage = size/100*percent truncated, no percent → 0, inactive LVs included', () => {
    const r = parseLvsReport(json);
    expect(r.size).toBe(17);
    expect(r.get(`${VG}/vm-pool`)).toEqual({
      size: 429496729600,
      usage: 58282706206,
      poolLv: '',
      attr: 'twi-aotz--',
      origin: '',
      metadataSize: 109051904,
      metadataUsage: 9836481,
    });
    expect(r.get(`${VG}/vm-work-private`)).toEqual({ size: 2147483648, usage: 372803161, poolLv: 'vm-pool', attr: 'Vwi-a-tz--', origin: 'vm-work-private-1711012345-back' });
    expect(r.get(`${VG}/vm-untrusted-private`)).toEqual({ size: 10737418240, usage: 0, poolLv: 'vm-pool', attr: 'Vwi---tz--', origin: '' });
    expect(r.get(`${VG}/swap`)?.usage).toBe(0);
    expect(r.get(`${VG}/root-pool`)?.metadataUsage).toBe(4718592);
    expect(() => parseLvsReport('{"report": []}')).toThrow('Cannot read the lvs report');
    expect(() => parseLvsReport('  WARNING: x')).toThrow(StoragePoolError);
  });

  test('read through the pool: space, volumes, revisions (#4680), fallback path, outdated snapshot', async () => {
    const devDir = tmpDir('lvm-thin-fixture-');
    const runner: CommandRunner = {
      async run(argv) {
        expect(argv).toEqual(LVS_ARGV);
        return ok(json);
      },
    };
    const pool = new ThinPool(poolRecord('lvm', 'vm-pool'), { runner, now: () => 0, runDir: devDir, devDir });
    await pool.setup();
    expect(await pool.space()).toEqual({
      size: 429496729600,
      usage: 58282706206,
      details: { data_size: 429496729600, data_usage: 58282706206, metadata_size: 109051904, metadata_usage: 9836481 },
    });
    expect(await pool.listVolumes()).toEqual([
      `${VG}/vm-fedora-39-xfce-private`,
      `${VG}/vm-fedora-39-xfce-root`,
      `${VG}/vm-sys-net-private`,
      `${VG}/vm-sys-net-volatile`,
      `${VG}/vm-untrusted-private`,
      `${VG}/vm-work-private`,
      `${VG}/vm-work-private-private`,
    ]);
    const work = origin(pool, 'work', 'private', GiB);
    expect(await pool.revisions(work)).toEqual([
      { id: '1710999999-back', timestamp: '2024-03-21T05:46:39' },
      { id: '1711012345-back', timestamp: '2024-03-21T09:12:25' },
    ]);
    expect(await pool.usage(work)).toBe(372803161);
    expect(await pool.isDirty(origin(pool, 'sys-net', 'private', GiB))).toBe(true);
    expect(await pool.isOutdated(snapshot(pool, 'sys-net', 'root', `${VG}/vm-fedora-39-xfce-root`, GiB))).toBe(true);
    expect(await pool.usage(origin(pool, 'untrusted', 'private', GiB))).toBe(0);
    expect(pool.warnings).toEqual([]);

    const notThin = new ThinPool(poolRecord('p', 'swap'), { runner, now: () => 0, runDir: devDir, devDir });
    expect((await rejection(notThin.setup())).message).toBe(`Volume ${VG}/swap is not a thin pool`);
  });
});
