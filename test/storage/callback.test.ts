// The callback driver for real: callback pools wrapping a file-reflink
// pool on a loop-mounted btrfs, configured in a callback configuration
// file (QUBES_CALLBACK_CONFIG), with callbacks that are shell scripts this
// test writes. Driven through the built commands, and through the storage
// library for start/stop (the lifecycle commands call those). Each
// callback run is logged with its arguments, working directory and an
// environment variable of the command; the JSON the generic `cmd` gets is
// compared with what Python's json.dumps (the reference's) makes of the
// same entry.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeLacking } from '../needs.js';
import { mountLacking, mountLoopFs, type LoopFs } from './loopfs.js';
import { MiB, storageEnv, type StorageEnv } from './storage-env.js';

interface Record_ {
  cwd: string;
  env: string;
  args: string[];
}

describeLacking(mountLacking(), 'callback pools over file-reflink on btrfs', () => {
  let lfs: LoopFs;
  let s: StorageEnv;
  let log: string;
  let config: string;
  const conf: Record<string, Record<string, unknown>> = {};

  /** The callback runs logged since the last call. */
  let seen = 0;
  function runs(): Record_[] {
    const all = fs.existsSync(log)
      ? fs
          .readFileSync(log, 'utf8')
          .split('\x1e')
          .filter((r) => r !== '')
          .map((r) => {
            const [, cwd, env, ...args] = r.split('\x1f') as [string, string, string, ...string[]];
            return { cwd, env, args };
          })
      : [];
    const out = all.slice(seen);
    seen = all.length;
    return out;
  }
  /**
   * Each run as [event, volume name, vid, source, extras...]: the generic
   * cmd's arguments (pool, bdriver, event, conf_id, JSON, ...) without pool,
   * bdriver, conf_id and JSON; an event's own command as its arguments.
   */
  const events = (rs: Record_[]) =>
    rs.map((r) => {
      const k = r.args.indexOf('file-reflink');
      return k < 0 ? r.args : [r.args[k + 1] as string, ...r.args.slice(k + 4)];
    });

  function writeConfig(): void {
    fs.writeFileSync(config, JSON.stringify(conf, null, 4));
  }

  /** Python's json.dumps(entry, sort_keys=True, indent=2): what the reference passes. */
  const pythonDump = (confId: string) =>
    execFileSync('python3', ['-c', 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]], sort_keys=True, indent=2), end="")', config, confId], {
      encoding: 'utf8',
    });

  beforeAll(() => {
    lfs = mountLoopFs('btrfs', 1536);
    s = storageEnv(lfs.dir);
    log = path.join(lfs.dir, 'callbacks.log');
    config = path.join(lfs.dir, 'qubes_callback.json');
    Object.assign(s.env, { QUBES_CALLBACK_CONFIG: config, CB_TEST_VAR: 'from the command' });
    const script = path.join(lfs.dir, 'log-callback');
    fs.writeFileSync(script, `#!/bin/bash\n{ printf 'call'; printf '\\x1f%s' "$PWD" "\${CB_TEST_VAR-unset}" "$@"; printf '\\x1e'; } >> '${log}'\n`, { mode: 0o755 });
    conf.logged = {
      bdriver: 'file-reflink',
      bdriver_args: { dir_path: path.join(lfs.dir, 'cb'), revisions_to_keep: 2 },
      cmd: script,
      pre_volume_start: `${script} own-start`,
      post_volume_stop: '-',
      description: 'logs every callback; "quoted" ünïcode',
    };
    conf.failing = { bdriver: 'file-reflink', bdriver_args: { dir_path: path.join(lfs.dir, 'failing') }, pre_volume_create: "echo 'no key for the storage' >&2; exit 3" };
    conf['failing-setup'] = { bdriver: 'file-reflink', bdriver_args: { dir_path: path.join(lfs.dir, 'fs') }, pre_setup: 'echo mounting; echo "mount: /mnt: wrong fs type" >&2; exit 32' };
    conf.sinit = { bdriver: 'file-reflink', bdriver_args: { dir_path: path.join(lfs.dir, 'sinit') }, cmd: `${script} sinit-cmd`, pre_sinit: `${script} sinit` };
    conf.signal = {
      bdriver: 'file-reflink',
      bdriver_args: { dir_path: path.join(lfs.dir, 'sig') },
      signal_back: true,
      pre_volume_create: `rmdir ${path.join(lfs.dir, 'sig', 'vm-templates')} 2>/dev/null; echo SIGNAL_setup`,
    };
    conf['no-signal'] = { ...conf.signal, signal_back: 'true', bdriver_args: { dir_path: path.join(lfs.dir, 'nosig') }, pre_volume_create: `rmdir ${path.join(lfs.dir, 'nosig', 'vm-templates')}; echo SIGNAL_setup` };
    conf['no-bdriver'] = { description: 'nothing' };
    conf['bad-bdriver'] = { bdriver: 'btrfs' };
    writeConfig();
    s.ok('qubes-create');
  });
  afterAll(() => {
    lfs?.unmount();
    if (s) fs.rmSync(s.env.QUBES_RUN_DIR as string, { recursive: true, force: true });
  });

  test('qvm-pool add: pre_setup through the generic cmd with the reference arguments, then the wrapped pool set up; only name, driver and conf_id recorded', () => {
    expect(s.q('qvm-pool', 'add', 'cb', 'callback', '-o', 'conf_id=logged')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toContain('<pool name="cb" driver="callback" conf_id="logged"/>');
    for (const d of ['appvms', 'vm-templates']) expect(fs.statSync(path.join(lfs.dir, 'cb', d)).isDirectory()).toBe(true);
    const [r, ...more] = runs();
    expect(more).toEqual([]);
    expect(r?.args).toEqual(['cb', 'file-reflink', 'pre_setup', 'logged', pythonDump('logged')]);
    // the command's environment and / as working directory
    expect([r?.cwd, r?.env]).toEqual(['/', 'from the command']);
    const info = s.ok('qvm-pool', 'info', 'cb');
    expect(info).toMatch(/^conf_id +logged$/m);
    expect(info).toMatch(/^size +\d+$/m);
    expect(s.ok('qvm-pool')).toMatch(/^cb +callback$/m);
  });

  test('volumes are the wrapped pool\'s; each operation runs its callbacks at the reference\'s moments', async () => {
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'cb', 'sa', '-l', 'red');
    const xml = fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8');
    expect(xml).toContain('<volume name="private" pool="cb" vid="appvms/sa/private" revisions_to_keep="2"');
    expect(fs.existsSync(path.join(lfs.dir, 'cb', 'appvms', 'sa', 'private.img'))).toBe(true);
    const created = events(runs());
    for (const vol of ['root', 'private', 'volatile']) {
      const mine = created.filter((e) => e[1] === vol);
      expect(mine).toEqual([
        ['pre_volume_create', vol, `appvms/sa/${vol}`, 'None'],
        ['post_volume_create', vol, `appvms/sa/${vol}`, 'None'],
      ]);
    }
    expect(created).toHaveLength(6);

    // start: the event's own command (no arguments of its own), then post_volume_start; stop: post_volume_stop is '-'
    const qs = await s.storage('sa');
    await qs.start();
    const started = events(runs());
    expect(started.filter((e) => e[0] === 'own-start')).toEqual([['own-start'], ['own-start'], ['own-start']]);
    expect(started.filter((e) => e[0] === 'post_volume_start').map((e) => e[1]).sort()).toEqual(['private', 'root', 'volatile']);
    expect(qs.devicePath(qs.require('private'))).toBe(path.join(lfs.dir, 'cb', 'appvms', 'sa', 'private-dirty.img'));
    expect(await (await s.storage('sa')).require('private').pool.isDirty(qs.require('private').volume)).toBe(true);
    expect(await qs.stop()).toEqual([]);
    expect(runs()).toEqual([]);

    s.ok('qvm-volume', 'resize', 'sa:private', '3GiB');
    expect(events(runs())).toEqual([['pre_volume_resize', 'private', 'appvms/sa/private', 'None', String(3 * 1024 * MiB)]]);

    const image = path.join(lfs.dir, 'image');
    fs.writeFileSync(image, Buffer.alloc(MiB, 1));
    s.ok('qvm-volume', 'import', '--size', String(MiB), 'sa:private', image);
    expect(events(runs())).toEqual([
      ['pre_volume_import_data', 'private', 'appvms/sa/private', 'None', String(MiB)],
      ['post_volume_import_data_end', 'private', 'appvms/sa/private', 'None', 'True'],
    ]);

    s.ok('qvm-clone', 'sa', 'sa2');
    const cloned = events(runs());
    for (const vol of ['root', 'private']) {
      const src = `appvms/sa/${vol}`;
      const mine = cloned.filter((e) => e[2] === `appvms/sa2/${vol}` || e[2] === src);
      expect(mine.map((e) => e[0])).toEqual(['pre_volume_import', 'pre_volume_export', 'post_volume_export_end', 'post_volume_import']);
      expect(mine[0]).toEqual(['pre_volume_import', vol, `appvms/sa2/${vol}`, 'None', src]);
      expect(mine[2]?.slice(0, 4)).toEqual(['post_volume_export_end', vol, src, 'None']);
      expect(mine[2]?.[4]).toMatch(/^\//);
    }
    expect(cloned.filter((e) => e[0] === 'pre_volume_create').map((e) => e[1])).toEqual(['volatile']);

    s.ok('qvm-remove', '-f', 'sa2');
    expect(events(runs()).map((e) => `${e[0]} ${e[1]}`).sort()).toEqual(['post_volume_remove private', 'post_volume_remove root', 'post_volume_remove volatile']);
    expect(fs.existsSync(path.join(lfs.dir, 'cb', 'appvms', 'sa2'))).toBe(false);
  });

  test('a failing callback fails the operation with one line naming it; nothing is left', () => {
    s.ok('qvm-pool', 'add', 'bad', 'callback', '-o', 'conf_id=failing');
    const before = fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8');
    const r = s.q('qvm-create', '-C', 'StandaloneVM', '-P', 'bad', 'x', '-l', 'red');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'qvm-create: error: Error creating VM: Creating the volumes of x failed, qube removed: Callback pre_volume_create of pool bad failed with exit code 3: no key for the storage\n',
    );
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toBe(before);
    expect(fs.readdirSync(path.join(lfs.dir, 'failing', 'appvms'))).toEqual([]);

    const add = s.q('qvm-pool', 'add', 'fs', 'callback', '-o', 'conf_id=failing-setup');
    expect(add).toEqual({ code: 1, stdout: '', stderr: 'qvm-pool: error: Failed to add pool fs: Callback pre_setup of pool fs failed with exit code 32: mount: /mnt: wrong fs type\n' });
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toBe(before);
  });

  test('pre_sinit runs once per boot (run directory), before the first operation; until then no size, usage or block device', async () => {
    // a pool recorded by another system (no setup here)
    const xml = s.env.QUBES_XML_PATH as string;
    fs.writeFileSync(xml, fs.readFileSync(xml, 'utf8').replace('</pools>', '<pool name="si" driver="callback" conf_id="sinit"/>\n  </pools>'));
    fs.mkdirSync(path.join(lfs.dir, 'sinit'));
    const info = s.ok('qvm-pool', 'info', 'si');
    expect(info).not.toMatch(/^size/m);
    expect(info).not.toMatch(/^usage/m);
    expect(runs()).toEqual([]);
    s.ok('qvm-pool', 'set', 'varlibqubes', '-o', 'revisions_to_keep=1'); // unrelated: nothing runs
    expect(runs()).toEqual([]);
    // the file-reflink pool underneath was never set up: pre_sinit (here) makes its directories
    fs.mkdirSync(path.join(lfs.dir, 'sinit', 'appvms'));
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'si', 'one', '-l', 'red');
    const first = runs();
    expect(first[0]?.args).toEqual(['sinit']);
    expect(first.filter((r) => r.args[0] === 'sinit')).toHaveLength(1);
    expect(events(first.slice(1)).map((e) => e[0]).sort()).toEqual([...Array(3).fill('post_volume_create'), ...Array(3).fill('pre_volume_create')]);
    expect(first[1]?.args.slice(0, 6)).toEqual(['sinit-cmd', 'si', 'file-reflink', 'pre_volume_create', 'sinit', pythonDump('sinit')]);
    expect(s.ok('qvm-pool', 'info', 'si')).toMatch(/^size +\d+$/m);
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'si', 'two', '-l', 'red');
    expect(runs().filter((r) => r.args[0] === 'sinit')).toEqual([]);
    // a reboot empties the run directory: the next operation runs it again
    fs.rmSync(path.join(s.env.QUBES_RUN_DIR as string, 'callback-pools'), { recursive: true });
    s.ok('qvm-remove', '-f', 'two');
    expect(runs()[0]?.args).toEqual(['sinit']);
  });

  test('signal_back: a SIGNAL_setup line sets the wrapped pool up again; without signal_back it is only output', () => {
    s.ok('qvm-pool', 'add', 'sig', 'callback', '-o', 'conf_id=signal');
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'sig', 'sq', '-l', 'red');
    expect(fs.existsSync(path.join(lfs.dir, 'sig', 'vm-templates'))).toBe(true);
    s.ok('qvm-pool', 'add', 'nosig', 'callback', '-o', 'conf_id=no-signal');
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'nosig', 'nq', '-l', 'red');
    expect(fs.existsSync(path.join(lfs.dir, 'nosig', 'vm-templates'))).toBe(false);
  });

  test('configuration errors are refused at add with one line; nothing recorded', () => {
    const before = fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8');
    const add = (name: string, ...opts: string[]) => s.q('qvm-pool', 'add', name, 'callback', ...opts.flatMap((o) => ['-o', o]));
    const err = (name: string, msg: string) => ({ code: 1, stdout: '', stderr: `qvm-pool: error: Failed to add pool ${name}: ${msg}\n` });
    expect(add('p')).toEqual(err('p', 'missing required driver options: conf_id'));
    expect(add('p', 'conf_id=nosuch')).toEqual(err('p', `The specified conf_id nosuch could not be found inside ${config}.`));
    expect(add('p', 'conf_id=no-bdriver')).toEqual(err('p', `Missing bdriver for the conf_id no-bdriver inside ${config}.`));
    expect(add('p', 'conf_id=bad-bdriver')).toEqual(err('p', 'The driver btrfs was not found on your system.'));
    expect(add('p', 'conf_id=logged', 'dir_path=/x')).toEqual(err('p', 'Unexpected driver options found: dir_path'));
    const missing = s.q('qvm-pool', 'add', 'p', 'callback', '-o', 'conf_id=logged');
    expect(missing.code).toBe(0);
    fs.renameSync(config, `${config}.away`);
    try {
      expect(s.q('qvm-pool', 'info', 'p')).toEqual({ code: 1, stdout: '', stderr: `qvm-pool: error: Cannot read the callback configuration ${config}: no such file or directory\n` });
    } finally {
      fs.renameSync(`${config}.away`, config);
    }
    s.ok('qvm-pool', 'remove', 'p');
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toBe(before);
  });
});
