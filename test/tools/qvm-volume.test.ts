import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, tmpStore, type TmpStore } from '../helpers.js';
import { specialFiles } from './special-files.js';

const GiB = 1024 ** 3;

/** A fresh store (file pool in the temp dir) with a template and an AppVM made by our commands. */
function store(): TmpStore {
  const s = tmpStore();
  for (const args of [[], ['-C', 'TemplateVM', 'tpl', '-l', 'black'], ['work', '-t', 'tpl', '-l', 'red']]) {
    const r = args.length ? run('qvm-create', args, s.env) : run('qubes-create', [], s.env);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  // the driver follows the temp dir's filesystem; the outputs below assume `file`
  fs.writeFileSync(s.xml, s.read().replace('driver="file-reflink"', 'driver="file"'));
  return s;
}

describe('qvm-volume', () => {
  test('list: sorted by pool and volume id, REVERT_POSSIBLE, pool and qube filters', () => {
    const s = store();
    expect(run('qvm-volume', [], s.env)).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'POOL:VOLUME                            VMNAME  VOLUME_NAME  REVERT_POSSIBLE',
        'linux-kernel:None                      tpl     kernel       No',
        'linux-kernel:None                      work    kernel       No',
        'varlibqubes:appvms/work/private        work    private      No',
        'varlibqubes:appvms/work/root           work    root         No',
        'varlibqubes:appvms/work/volatile       work    volatile     No',
        'varlibqubes:vm-templates/tpl/private   tpl     private      No',
        'varlibqubes:vm-templates/tpl/root      tpl     root         No',
        'varlibqubes:vm-templates/tpl/volatile  tpl     volatile     No',
        '',
      ].join('\n'),
    });
    expect(run('qvm-volume', ['ls', '-p', 'linux-kernel', '--exclude', 'tpl'], s.env).stdout).toBe(
      'POOL:VOLUME        VMNAME  VOLUME_NAME  REVERT_POSSIBLE\nlinux-kernel:None  work    kernel       No\n',
    );
    expect(run('qvm-volume', ['list', 'work'], s.env).stdout.trim().split('\n')).toHaveLength(5);
    expect(run('qvm-volume', ['list', 'nosuch'], s.env)).toMatchObject({ code: 2, stderr: "qvm-volume: error: no such domain: 'nosuch'\n" });
  });

  test('info prints the reference rows and the revisions line; one property alone', () => {
    const s = store();
    expect(run('qvm-volume', ['info', 'work:private'], s.env)).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'pool               varlibqubes',
        'vid                appvms/work/private',
        'rw                 True',
        'source             ',
        'save_on_stop       True',
        'snap_on_start      False',
        `size               ${2 * GiB}`,
        'usage              0',
        'revisions_to_keep  1',
        'ephemeral          False',
        'is_outdated        False',
        'List of available revisions (for revert): none',
        '',
      ].join('\n'),
    });
    expect(run('qvm-volume', ['i', 'work:root', 'source'], s.env).stdout).toBe('vm-templates/tpl/root\n');
    expect(run('qvm-volume', ['info', 'work:root', 'revisions'], s.env).stdout).toBe('');
    expect(run('qvm-volume', ['info', 'work:root', 'bogus'], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-volume: error: No such property: bogus\n' });
  });

  test('volume arguments: malformed and an unknown qube are usage errors (as in every command), an unknown volume a runtime error', () => {
    const s = store();
    expect(run('qvm-volume', ['info', 'work'], s.env)).toEqual({ code: 2, stdout: '', stderr: 'qvm-volume: error: expected a vm & volume combination like foo:bar\n' });
    expect(run('qvm-volume', ['info', 'a:b:c'], s.env).code).toBe(2);
    const before = s.read();
    const unknown = { code: 2, stdout: '', stderr: "qvm-volume: error: no such domain: 'nosuch'\n" };
    expect(run('qvm-volume', ['info', 'nosuch:root'], s.env)).toEqual(unknown);
    expect(run('qvm-volume', ['info', 'nosuch:private'], s.env)).toEqual(unknown);
    expect(run('qvm-volume', ['import', '--size', '512', 'nosuch:private', '-'], s.env)).toEqual(unknown);
    expect(run('qvm-volume', ['resize', 'nosuch:private', '1GiB'], s.env)).toEqual(unknown);
    expect(run('qvm-volume', ['revert', 'nosuch:private'], s.env)).toEqual(unknown);
    expect(run('qvm-volume', ['clone', '-f', 'nosuch:private', 'work:private'], s.env)).toEqual(unknown);
    expect(s.read()).toBe(before);
    expect(run('qvm-volume', ['info', 'work:swap'], s.env)).toEqual({ code: 1, stdout: '', stderr: "qvm-volume: error: vm 'work' has no volume 'swap'\n" });
  });

  test('config sets rw, revisions_to_keep (also -1) and ephemeral; others refused', () => {
    const s = store();
    expect(run('qvm-volume', ['config', 'work:private', 'revisions_to_keep', '-1'], s.env).code).toBe(0);
    expect(run('qvm-volume', ['info', 'work:private'], s.env).stdout).toMatch(/^revisions_to_keep  -1 \(snapshot disabled\)$/m);
    expect(s.read()).toContain('<volume name="private" pool="varlibqubes" vid="appvms/work/private" revisions_to_keep="-1" rw="True"');
    expect(run('qvm-volume', ['set', 'work:volatile', 'ephemeral', 'True'], s.env).code).toBe(0);
    expect(s.read()).toMatch(/<volume name="volatile" [^>]*snap_on_start="False" ephemeral="True" size=/);
    expect(run('qvm-volume', ['c', 'work:private', 'rw', 'False'], s.env).code).toBe(0);
    expect(run('qvm-volume', ['info', 'work:private', 'rw'], s.env).stdout).toBe('False\n');
    const before = s.read();
    for (const [args, msg] of [
      [['config', 'work:private', 'size', '1'], 'Invalid property: size'],
      [['config', 'work:private', 'revisions_to_keep', '-2'], 'Invalid value for revisions_to_keep'],
      [['config', 'work:private', 'revisions_to_keep', '2'], 'FileVolume supports maximum 1 volume revision to keep'],
      [['config', 'work:private', 'rw', 'maybe'], "Invalid value for rw: 'maybe' (expected True or False)"],
    ] as [string[], string][])
      expect({ args, ...run('qvm-volume', args, s.env) }).toEqual({ args, code: 1, stdout: '', stderr: `qvm-volume: error: ${msg}\n` });
    expect(s.read()).toBe(before);
  });

  test('resize takes the reference units, refuses to shrink without --force and records the size', () => {
    const s = store();
    const img = path.join(s.dir, 'appvms/work/private.img');
    expect(run('qvm-volume', ['resize', 'work:private', '3GiB'], s.env).code).toBe(0);
    expect(fs.statSync(img).size).toBe(3 * GiB);
    expect(run('qvm-volume', ['extend', 'work:private', '3500m'], s.env).code).toBe(0);
    expect(fs.statSync(img).size).toBe(3.5e9);
    expect(s.read()).toContain('vid="appvms/work/private" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="3500000000"');
    const before = s.read();
    const shrink = run('qvm-volume', ['resize', 'work:private', '1G'], s.env);
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toBe(
      'qvm-volume: error: Refusing to shrink volume work:private from 3500000000 to 1000000000 bytes. Shrink the filesystem inside the qube first (data beyond the new end is lost), then run: qvm-volume resize --force work:private 1000000000\n',
    );
    expect(run('qvm-volume', ['resize', 'work:private', '10XB'], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-volume: error: Invalid size: 10XB.\n' });
    expect(run('qvm-volume', ['resize', 'work:kernel', '1G'], s.env).code).toBe(1);
    expect(s.read()).toBe(before);
    expect(fs.statSync(img).size).toBe(3.5e9);
    expect(run('qvm-volume', ['resize', '-f', 'work:private', '1G'], s.env).code).toBe(0);
    expect(fs.statSync(img).size).toBe(1e9);
  });

  test('import from a file or standard input, exactly the announced size', () => {
    const s = store();
    const img = path.join(s.dir, 'appvms/work/private.img');
    const data = Buffer.concat([Buffer.from('hello volume'), Buffer.alloc(300000), Buffer.from('end')]);
    const file = path.join(s.dir, 'data.raw');
    fs.writeFileSync(file, data);
    expect(run('qvm-volume', ['import', 'work:private', file], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readFileSync(img).equals(data)).toBe(true);
    expect(s.read()).toContain(`snap_on_start="False" size="${data.length}"/>`);
    // a pipe has no size: --size is needed
    expect(run('qvm-volume', ['import', 'work:private', '-'], s.env, 'abc').stderr).toBe(
      'qvm-volume: error: Failed to get the input file size, specify it explicitly with --size, or use --no-resize option\n',
    );
    expect(run('qvm-volume', ['import', '--size', '3', 'work:private', '-'], s.env, 'abc').code).toBe(0);
    expect(fs.readFileSync(img, 'utf8')).toBe('abc');
    const before = s.read();
    expect(run('qvm-volume', ['import', '--size', '5', 'work:private', '-'], s.env, 'abc').stderr).toBe(
      'qvm-volume: error: Data import failed: not enough data (copied 3 bytes, expected 5 bytes)\n',
    );
    expect(run('qvm-volume', ['import', '--no-resize', 'work:private', '-'], s.env, 'abcd').stderr).toBe(
      'qvm-volume: error: Data import failed: too much data (expected 3 bytes)\n',
    );
    expect(fs.readFileSync(img, 'utf8')).toBe('abc');
    expect(fs.readdirSync(path.dirname(img)).filter((f) => f.includes('import'))).toEqual([]);
    expect(s.read()).toBe(before);
    expect(run('qvm-volume', ['import', 'work:root', file], s.env).stderr).toMatch(/^qvm-volume: error: Can not import into save_on_stop=False volume/);
  });

  test('import refuses a character device, FIFO, socket or directory named as a path, at once; standard input is bounded by --size', async () => {
    const s = store();
    const img = path.join(s.dir, 'appvms/work/private.img');
    fs.writeFileSync(img, 'keep');
    const before = s.read();
    const special = await specialFiles(s.dir);
    const volume = (args: string[], stdin: 'pipe' | number = 'pipe') => {
      const r = spawnSync(path.join(ROOT, 'bin', 'qvm-volume'), args, { env: s.env, encoding: 'utf8', timeout: 20000, stdio: [stdin, 'pipe', 'pipe'] });
      return { code: r.status, stderr: r.stderr };
    };
    try {
      for (const [file, kind] of special.files) {
        for (const size of [[], ['--size', '1MiB']]) {
          expect({ file, size, ...volume(['import', ...size, 'work:private', file]) }).toEqual({
            file,
            size,
            code: 1,
            stderr: `qvm-volume: error: ${file} is ${kind}, not an image file\n`,
          });
        }
      }
    } finally {
      special.close();
    }
    // an endless standard input costs --size bytes, not more
    const zero = fs.openSync('/dev/zero', 'r');
    expect(volume(['import', '--size', '1MiB', 'work:private', '-'], zero)).toEqual({ code: 1, stderr: 'qvm-volume: error: Data import failed: too much data (expected 1048576 bytes)\n' });
    fs.closeSync(zero);
    // a regular file holds what it holds: another --size is refused before anything is written
    const file = path.join(s.dir, 'ten.raw');
    fs.writeFileSync(file, '0123456789');
    expect(volume(['import', '--size', '5', 'work:private', file])).toEqual({ code: 1, stderr: `qvm-volume: error: ${file} holds 10 bytes, not the 5 to import\n` });
    expect(volume(['import', '--no-resize', 'work:private', file])).toEqual({ code: 1, stderr: `qvm-volume: error: ${file} holds 10 bytes, not the 4 to import\n` });
    expect(fs.readFileSync(img, 'utf8')).toBe('keep');
    expect(fs.readdirSync(path.dirname(img)).filter((f) => /import|~/.test(f))).toEqual([]);
    expect(s.read()).toBe(before);
  });

  test('a live import holds its volume: another import waits, then fails naming the holder, and the live one is not disturbed', async () => {
    const s = store();
    const runDir = fs.mkdtempSync(path.join(s.dir, 'run-'));
    const env = { ...s.env, QUBES_RUN_DIR: runDir };
    const target = path.join(s.dir, 'appvms/work/private-import.img');
    const live = spawn(path.join(ROOT, 'bin', 'qvm-volume'), ['import', '--size', '6', 'work:private', '-'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const ended = new Promise<number | null>((r) => live.on('close', (code) => r(code)));
    for (let i = 0; i < 400 && !fs.existsSync(target); i++) await new Promise((r) => setTimeout(r, 25));
    expect(fs.existsSync(target)).toBe(true);
    const file = path.join(s.dir, 'other.raw');
    fs.writeFileSync(file, 'other');
    const r = run('qvm-volume', ['import', 'work:private', file], { ...env, QUBES_LOCK_TIMEOUT_MS: '300' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^qvm-volume: error: Volume varlibqubes:appvms/work/private is in use by another command: .*held by process ${live.pid}\\b[^\\n]*\\n$`));
    // the live import's target was not taken for a leftover
    expect(fs.existsSync(target)).toBe(true);
    live.stdin.end('abcdef');
    expect(await ended).toBe(0);
    expect(fs.readFileSync(path.join(s.dir, 'appvms/work/private.img'), 'utf8')).toBe('abcdef');
    expect(fs.readdirSync(path.join(runDir, 'volume-locks'))).toEqual([]);
  });

  test('clone and clear ask first; cancelling changes nothing', () => {
    const s = store();
    run('qvm-create', ['other', '-t', 'tpl', '-l', 'red'], s.env);
    const src = path.join(s.dir, 'appvms/work/private.img');
    const dst = path.join(s.dir, 'appvms/other/private.img');
    fs.writeFileSync(src, 'work data');
    const no = run('qvm-volume', ['clone', 'work:private', 'other:private'], s.env, 'n\n');
    expect(no.code).toBe(0);
    expect(no.stdout).toMatch(/Are you sure\? \[y\/N\] Clone cancelled\.\n$/);
    expect(fs.statSync(dst).size).toBe(2 * GiB);
    expect(run('qvm-volume', ['clone', 'work:private', 'other:private'], s.env, 'y\n').code).toBe(0);
    expect(fs.readFileSync(dst, 'utf8')).toBe('work data');
    expect(run('qvm-volume', ['clone', '-f', 'work:root', 'other:private'], s.env).stderr).toBe('qvm-volume: error: Volumes must be save_on_stop for cloning\n');
    expect(run('qvm-volume', ['clear', 'other:private'], s.env, '\n').stdout).toMatch(/Clear cancelled\.\n$/);
    expect(fs.readFileSync(dst, 'utf8')).toBe('work data');
    expect(run('qvm-volume', ['clear', '--force', 'other:private'], s.env).code).toBe(0);
    expect(fs.statSync(dst).size).toBe(9);
    expect(fs.statSync(dst).blocks).toBe(0);
  });

  test('revert without revisions, and the file driver cannot revert', () => {
    const s = store();
    expect(run('qvm-volume', ['revert', 'work:private'], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-volume: error: No snapshots available\n' });
  });
});
