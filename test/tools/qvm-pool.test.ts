import fs from 'node:fs';
import path from 'node:path';
import { runIn, tmpStoreLocalPools } from '../helpers.js';

const stores: string[] = [];
const store = () => {
  const s = tmpStoreLocalPools('qubes-xml/q10.xml');
  stores.push(s.dir);
  return s;
};
afterEach(() => {
  for (const d of stores.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('qvm-pool', () => {
  test('list (the default) and drivers print the reference tables, callback and zfs included', async () => {
    const s = store();
    const list = 'NAME          DRIVER\nvarlibqubes   file\nlinux-kernel  linux-kernel\n';
    expect(await runIn('qvm-pool', [], s.env)).toEqual({ code: 0, stdout: list, stderr: '' });
    expect((await runIn('qvm-pool', ['ls'], s.env)).stdout).toBe(list);
    expect((await runIn('qvm-pool', ['drivers'], s.env)).stdout).toBe(
      [
        'DRIVER        OPTIONS',
        'callback      conf_id',
        'file          revisions_to_keep, dir_path, ephemeral_volatile',
        'file-reflink  revisions_to_keep, dir_path, setup_check, ephemeral_volatile',
        'linux-kernel  dir_path',
        'lvm_thin      revisions_to_keep, volume_group, thin_pool, ephemeral_volatile',
        'zfs           revisions_to_keep, container, ephemeral_volatile, snap_on_start_forensics',
        '',
      ].join('\n'),
    );
  });

  test('info: name first, then options, size and usage sorted', async () => {
    const s = store();
    const r = await runIn('qvm-pool', ['info', 'varlibqubes'], s.env);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split(/ +/));
    expect(rows.map((x) => x[0])).toEqual(['name', 'dir_path', 'driver', 'ephemeral_volatile', 'revisions_to_keep', 'size', 'usage']);
    expect(rows[0]).toEqual(['name', 'varlibqubes']);
    expect(rows[1]).toEqual(['dir_path', s.dir]);
    expect(Number(rows[5]?.[1])).toBeGreaterThan(0);
    expect(await runIn('qvm-pool', ['info', 'nosuch'], s.env)).toEqual({ code: 2, stdout: '', stderr: "qvm-pool: error: no such pool: 'nosuch'\n" });
  });

  test('add records the pool in the reference attribute order and sets it up; info shows included_in', async () => {
    const s = store();
    const dir = path.join(s.dir, 'fast');
    expect(await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${dir}`, '-o', 'revisions_to_keep=0'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain(`<pool name="fast" dir_path="${dir}" driver="file" revisions_to_keep="0" ephemeral_volatile="False"/>`);
    for (const d of ['appvms', 'vm-templates']) expect(fs.statSync(path.join(dir, d)).isDirectory()).toBe(true);
    expect((await runIn('qvm-pool', ['info', 'fast'], s.env)).stdout).toMatch(/^included_in +varlibqubes$/m);
  });

  test('bad adds fail with the reason and change nothing', async () => {
    const s = store();
    const before = s.read();
    const cases: [string[], string][] = [
      [['add', 'p', 'btrfs', '-o', 'dir_path=x'], "Failed to add pool p: unknown driver 'btrfs'"],
      [['add', 'p', 'zfs', '-o', 'revisions_to_keep=2'], 'Failed to add pool p: missing required driver options: container'],
      [['add', 'p', 'zfs', '-o', 'container=tank/q', '-o', 'snap_on_start_forensics=maybe'], "Failed to add pool p: Invalid value for snap_on_start_forensics: 'maybe' (expected True or False)"],
      [['add', 'p', 'callback'], 'Failed to add pool p: missing required driver options: conf_id'],
      [['add', 'p', 'file', '-o', 'dir_path=/x', '-o', 'rw=True'], 'Failed to add pool p: Unexpected driver options found: rw'],
      [['add', 'p', 'lvm_thin', '-o', 'volume_group=qubes_dom0'], 'Failed to add pool p: missing required driver options: thin_pool'],
      [['add', 'varlibqubes', 'file', '-o', 'dir_path=/x'], 'Failed to add pool varlibqubes: pool named varlibqubes already exists'],
      [['add', 'a b', 'file', '-o', 'dir_path=/x'], "Failed to add pool a b: Invalid pool name 'a b': use letters, digits, '.', '_' and '-'"],
      [['add', 'p', 'file', '-o', 'dir_path'], "Failed to add pool p: Invalid option 'dir_path': expected KEY=VALUE"],
      [['add', 'p', 'file', '-o', 'dir_path=/x', '-o', 'revisions_to_keep=-2'], "Failed to add pool p: Invalid value for revisions_to_keep: '-2' (an integer >= -1)"],
    ];
    for (const [args, msg] of cases) expect({ args, ...(await runIn('qvm-pool', args, s.env)) }).toEqual({ args, code: 1, stdout: '', stderr: `qvm-pool: error: ${msg}\n` });
    expect(s.read()).toBe(before);
  });

  test('remove refuses a pool in use, removes an unused one, collects failures', async () => {
    const s = store();
    expect((await runIn('qvm-pool', ['add', 'spare', 'file', '-o', `dir_path=${path.join(s.dir, 'spare')}`], s.env)).code).toBe(0);
    const r = await runIn('qvm-pool', ['remove', 'varlibqubes', 'spare', 'nosuch'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'qvm-pool: error: Failed to remove pool varlibqubes: Storage pool is in use: volume root of fedora-41, volume private of fedora-41, volume volatile of fedora-41, and 36 more; Failed to remove pool nosuch: No such pool nosuch\n',
    );
    expect(s.read()).not.toContain('name="spare"');
    // the data stays
    expect(fs.existsSync(path.join(s.dir, 'spare', 'appvms'))).toBe(true);
    const kernel = await runIn('qvm-pool', ['rm', 'linux-kernel'], s.env);
    expect(kernel.stderr).toMatch(/^qvm-pool: error: Failed to remove pool linux-kernel: Storage pool is in use: set as default_pool_kernel, volume kernel of fedora-41/);
  });

  test('set changes revisions_to_keep and ephemeral_volatile only', async () => {
    const s = store();
    expect((await runIn('qvm-pool', ['set', 'varlibqubes', '-o', 'revisions_to_keep=0', '-o', 'ephemeral_volatile=yes'], s.env)).code).toBe(0);
    expect(s.read()).toContain('<pool name="varlibqubes" dir_path="' + s.dir + '" driver="file" revisions_to_keep="0" ephemeral_volatile="True"/>');
    const before = s.read();
    // the driver's own limit holds (a file pool keeps at most one revision), so the pool stays usable
    expect(await runIn('qvm-pool', ['set', 'varlibqubes', '-o', 'revisions_to_keep=3'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-pool: error: FilePool supports maximum 1 volume revision to keep\n',
    });
    expect((await runIn('qvm-pool', ['info', 'varlibqubes'], s.env)).code).toBe(0);
    expect(await runIn('qvm-pool', ['set', 'varlibqubes', '-o', 'prop=1'], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-pool: error: Setting option prop is not supported for pool varlibqubes\n' });
    expect((await runIn('qvm-pool', ['set', 'linux-kernel', '-o', 'revisions_to_keep=1'], s.env)).stderr).toBe(
      'qvm-pool: error: Setting option revisions_to_keep is not supported for pool linux-kernel\n',
    );
    expect((await runIn('qvm-pool', ['set', 'nosuch', '-o', 'revisions_to_keep=1'], s.env)).code).toBe(2);
    expect(await runIn('qvm-pool', ['set', 'varlibqubes'], s.env)).toEqual({ code: 2, stdout: '', stderr: 'qvm-pool: error: set needs at least one -o OPTION=VALUE\n' });
    expect(await runIn('qvm-pool', ['list', '-o', 'x=1'], s.env)).toEqual({ code: 2, stdout: '', stderr: "qvm-pool: error: option --option is not valid with 'list'\n" });
    expect(s.read()).toBe(before);
  });

  test('the legacy option form: same outputs, comma-separated -o, usage errors exit 2', async () => {
    const s = store();
    expect((await runIn('qvm-pool', ['-l'], s.env)).stdout).toBe((await runIn('qvm-pool', ['list'], s.env)).stdout);
    expect((await runIn('qvm-pool', ['--help-drivers'], s.env)).stdout).toBe((await runIn('qvm-pool', ['drivers'], s.env)).stdout);
    const dir = path.join(s.dir, 'old');
    expect((await runIn('qvm-pool', ['-a', 'old', 'file', '-o', `dir_path=${dir},revisions_to_keep=0`], s.env)).code).toBe(0);
    expect(s.read()).toContain(`<pool name="old" dir_path="${dir}" driver="file" revisions_to_keep="0" ephemeral_volatile="False"/>`);
    expect((await runIn('qvm-pool', ['-i', 'old'], s.env)).stdout).toMatch(/^revisions_to_keep +0$/m);
    // the legacy form's errors are usage errors
    expect(await runIn('qvm-pool', ['-a', 'old2', 'file', '-o', `dir_path=${dir}2,revisions_to_keep=2`], s.env)).toEqual({
      code: 2,
      stdout: '',
      stderr: 'qvm-pool: error: Failed to add pool old2: FilePool supports maximum 1 volume revision to keep\n',
    });
    expect(await runIn('qvm-pool', ['-s', 'old', '-o', 'prop=1'], s.env)).toEqual({ code: 2, stdout: '', stderr: 'qvm-pool: error: Setting option prop is not supported for pool old\n' });
    expect((await runIn('qvm-pool', ['-r', 'old'], s.env)).code).toBe(0);
    expect(s.read()).not.toContain('name="old"');
    expect((await runIn('qvm-pool', ['-l', '-r', 'x'], s.env)).code).toBe(2);
  });
});

describe('qvm-pool add, not in offline mode: a file pool needs device-mapper', () => {
  /** The store online (no hypervisor is asked by these commands), with device nodes in `devDir`. */
  const online = (s: ReturnType<typeof store>, devDir: string) => {
    const env: NodeJS.ProcessEnv = { ...s.env, QUBES_DEV_DIR: devDir, QUBES_RUN_DIR: path.join(s.dir, 'run') };
    delete env.QUBES_OFFLINE_MODE;
    return env;
  };

  test('without /dev/mapper/control the file pool is refused with one line and nothing is made; other drivers are not concerned', async () => {
    const s = store();
    const devDir = path.join(s.dir, 'dev'); // no mapper/control: a host without device-mapper
    fs.mkdirSync(devDir);
    const before = s.read();
    const dir = path.join(s.dir, 'fast');
    expect(await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${dir}`], online(s, devDir))).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-pool: error: Failed to add pool fast: pool fast (file driver) needs device-mapper to start its qubes, which this host lacks: no ${devDir}/mapper/control; use a file-reflink or lvm_thin pool\n`,
    });
    expect(s.read()).toBe(before);
    expect(fs.existsSync(dir)).toBe(false);
    // qvm-create into the store's file pool: refused, no qube, no files
    const r = await runIn('qvm-create', ['-l', 'red', '-t', 'fedora-41', 'newbie'], online(s, devDir));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qvm-create: error: Error creating VM: Creating the volumes of newbie failed, qube removed: pool varlibqubes (file driver) needs device-mapper to start its qubes, which this host lacks: no ${devDir}/mapper/control; use a file-reflink or lvm_thin pool\n`,
    );
    expect(s.read()).toBe(before);
    expect(fs.existsSync(path.join(s.dir, 'appvms', 'newbie'))).toBe(false);
    // offline mode prepares a store for another kernel: accepted
    expect((await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${dir}`], { ...online(s, devDir), QUBES_OFFLINE_MODE: '1' })).code).toBe(0);
  });

  test('QUBES_DEV_ROOT, the former name of QUBES_DEV_DIR, is still read for this release, with a warning', async () => {
    const s = store();
    const devDir = path.join(s.dir, 'dev'); // no mapper/control
    fs.mkdirSync(devDir);
    const env: NodeJS.ProcessEnv = { ...online(s, devDir), QUBES_DEV_ROOT: devDir };
    delete env.QUBES_DEV_DIR;
    expect(await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${path.join(s.dir, 'fast')}`], env)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'qvm-pool: warning: QUBES_DEV_ROOT is deprecated and will be removed in the next release; use QUBES_DEV_DIR\n' +
        `qvm-pool: error: Failed to add pool fast: pool fast (file driver) needs device-mapper to start its qubes, which this host lacks: no ${devDir}/mapper/control; use a file-reflink or lvm_thin pool\n`,
    });
  });

  test('without dmsetup (PATH) or with a kernel that has no device-mapper, likewise', async () => {
    const s = store();
    const devDir = path.join(s.dir, 'dev');
    fs.mkdirSync(path.join(devDir, 'mapper'), { recursive: true });
    fs.writeFileSync(path.join(devDir, 'mapper', 'control'), '');
    // a PATH with node only: no dmsetup
    const bin = path.join(s.dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const r = await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${path.join(s.dir, 'fast')}`], { ...online(s, devDir), PATH: bin });
    expect(r.stderr).toBe('qvm-pool: error: Failed to add pool fast: pool fast (file driver) needs device-mapper to start its qubes, which this host lacks: no dmsetup program; use a file-reflink or lvm_thin pool\n');
    // a dmsetup whose kernel does not answer (as on a kernel built without device-mapper)
    fs.writeFileSync(path.join(bin, 'dmsetup'), '#!/bin/sh\necho "/dev/mapper/control: open failed: No such device" >&2\nexit 1\n', { mode: 0o755 });
    const k = await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${path.join(s.dir, 'fast')}`], { ...online(s, devDir), PATH: `${bin}:/usr/bin:/bin` });
    expect(k.stderr).toBe(
      'qvm-pool: error: Failed to add pool fast: pool fast (file driver) needs device-mapper to start its qubes, which this host lacks: the kernel does not answer dmsetup: /dev/mapper/control: open failed: No such device; use a file-reflink or lvm_thin pool\n',
    );
    // the snapshot targets there: accepted
    fs.writeFileSync(path.join(bin, 'dmsetup'), '#!/bin/sh\nprintf "snapshot-origin v1.9.0\\nsnapshot v1.16.0\\n"\n', { mode: 0o755 });
    expect(await runIn('qvm-pool', ['add', 'fast', 'file', '-o', `dir_path=${path.join(s.dir, 'fast')}`], { ...online(s, devDir), PATH: `${bin}:/usr/bin:/bin` })).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
