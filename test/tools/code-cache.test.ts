// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The launcher's V8 code cache (lib/launcher.ts): commands behave the same
 * with it, without it and whatever state it is in; it holds code only (a
 * changed store is read again); an edited bundle never runs old code; a
 * cache that is not the user's own, or not intact, is not used.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, run, tmpStore, type RunResult, type TmpStore } from '../helpers.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-code-cache-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cacheFiles = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
/** inode and modification time: a cache file that was rewritten has a new inode (written under another name, renamed). */
const identity = (file: string): string => {
  const st = fs.statSync(file, { bigint: true });
  return `${st.ino}:${st.mtimeNs}`;
};

/** What a user sees of a run. */
const seen = (r: RunResult) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });

describe('code cache', () => {
  let s: TmpStore;
  beforeEach(() => {
    s = tmpStore('qubes-xml/q100.xml');
  });
  afterEach(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test('commands print the same without a cache, when making it and when using it; the second run uses the cache as written', () => {
    const runs: [string, string[]][] = [
      ['qvm-ls', []],
      ['qvm-ls', ['--format', 'json', '--fields', 'NAME,CLASS,LABEL,NETVM']],
      ['qvm-prefs', ['vm0042']],
      ['qvm-prefs', ['no-such-qube', 'memory']],
      ['qvm-features', ['--help']],
    ];
    for (const [i, [cmd, args]] of runs.entries()) {
      const dir = path.join(tmp, `cache${i}`);
      const none = run(cmd, args, { ...s.env, QUBES_CODE_CACHE_DIR: dir, QUBES_NO_CODE_CACHE: '1' });
      expect(cacheFiles(dir).filter((f) => f.startsWith(`${cmd}-`))).toEqual([]);
      const making = run(cmd, args, { ...s.env, QUBES_CODE_CACHE_DIR: dir });
      const [file, ...more] = cacheFiles(dir).filter((f) => f.startsWith(`${cmd}-`));
      expect({ file, more }).toEqual({ file: expect.stringMatching(new RegExp(`^${cmd}-[0-9a-f]{8}\\.v8cache$`)), more: [] });
      const before = identity(path.join(dir, file as string));
      const using = run(cmd, args, { ...s.env, QUBES_CODE_CACHE_DIR: dir });
      expect(identity(path.join(dir, file as string))).toBe(before);
      expect({ cmd, args, ...seen(making) }).toEqual({ cmd, args, ...seen(none) });
      expect({ cmd, args, ...seen(using) }).toEqual({ cmd, args, ...seen(none) });
      // private: the directory and its files are the user's alone
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dir, file as string)).mode & 0o777).toBe(0o600);
    }
    // the error case is one of them, with its status
    expect(run('qvm-prefs', ['no-such-qube', 'memory'], { ...s.env, QUBES_CODE_CACHE_DIR: path.join(tmp, 'cache3') }).code).toBe(2);
  });

  test('the cache holds code, not the store: a store changed in place with the same size and times is read again', () => {
    const env = { ...s.env, QUBES_CODE_CACHE_DIR: path.join(tmp, 'cache') };
    // whole seconds, so that setting them again gives exactly the same times
    fs.utimesSync(s.xml, 1700000000, 1700000000);
    expect(run('qvm-prefs', ['vm0042', 'memory'], env)).toEqual({ code: 0, stdout: '400\n', stderr: '' });
    expect(run('qvm-prefs', ['vm0042', 'memory'], env).stdout).toBe('400\n');
    const st = fs.statSync(s.xml, { bigint: true });
    const text = s.read();
    const at = text.indexOf('vm0042');
    // the same length, the same inode, the same times: only the content differs
    const fd = fs.openSync(s.xml, 'r+');
    fs.writeSync(fd, 'vm9042', Buffer.byteLength(text.slice(0, at)));
    fs.closeSync(fd);
    fs.utimesSync(s.xml, 1700000000, 1700000000);
    const now = fs.statSync(s.xml, { bigint: true });
    expect([now.ino, now.size, now.mtimeNs]).toEqual([st.ino, st.size, st.mtimeNs]);
    expect(run('qvm-prefs', ['vm9042', 'memory'], env)).toEqual({ code: 0, stdout: '400\n', stderr: '' });
    expect(run('qvm-prefs', ['vm0042', 'memory'], env)).toMatchObject({ code: 2, stdout: '' });
  });
});

/** A copy of the built package (shims, bundles, package.json) whose bundles a test may edit. */
function packageCopy(): string {
  const dir = path.join(tmp, 'pkg');
  for (const sub of ['bin', path.join('dist', 'bin')]) fs.cpSync(path.join(ROOT, sub), path.join(dir, sub), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  return dir;
}

const version = (pkg: string, env: NodeJS.ProcessEnv) => spawnSync(path.join(pkg, 'bin', 'qvm-ls'), ['--version'], { env, encoding: 'utf8' });

test('an edited bundle runs its own code, never the cached code of what it was, even with the same size and times', () => {
  const pkg = packageCopy();
  const env = { ...process.env, QUBES_CODE_CACHE_DIR: path.join(tmp, 'cache') };
  const bundle = path.join(pkg, 'dist', 'bin', 'qvm-ls.cjs');
  const v = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
  expect(version(pkg, env).stdout).toBe(`qvm-ls (qubes-dom0-tools) ${v}\n`);
  expect(version(pkg, env).stdout).toBe(`qvm-ls (qubes-dom0-tools) ${v}\n`); // now from the cache
  // Same length, in place (same inode), times restored: what V8 itself checks (the length) and size/mtime agree.
  fs.utimesSync(bundle, 1700000000, 1700000000);
  expect(version(pkg, env).stdout).toBe(`qvm-ls (qubes-dom0-tools) ${v}\n`); // the cache of this bundle
  const st = fs.statSync(bundle, { bigint: true });
  const text = fs.readFileSync(bundle, 'latin1');
  const edited = v.replace(/\d/g, '9');
  expect(text.split(JSON.stringify(v)).length).toBe(2);
  const fd = fs.openSync(bundle, 'r+');
  fs.writeSync(fd, JSON.stringify(edited), text.indexOf(JSON.stringify(v)), 'latin1');
  fs.closeSync(fd);
  fs.utimesSync(bundle, 1700000000, 1700000000);
  const now = fs.statSync(bundle, { bigint: true });
  expect([now.ino, now.size, now.mtimeNs]).toEqual([st.ino, st.size, st.mtimeNs]);
  expect(version(pkg, env)).toMatchObject({ status: 0, stdout: `qvm-ls (qubes-dom0-tools) ${edited}\n`, stderr: '' });
});

describe('a cache that is not fit to use is ignored', () => {
  const listing = (env: NodeJS.ProcessEnv) => run('qvm-ls', ['--raw-data', '--fields', 'NAME,LABEL,TEMPLATE'], env);
  let s: TmpStore;
  let expected: ReturnType<typeof seen>;
  beforeEach(() => {
    s = tmpStore('qubes-xml/q10.xml');
    expected = seen(listing({ ...s.env, QUBES_NO_CODE_CACHE: '1' }));
    expect(expected.code).toBe(0);
  });
  afterEach(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  test('a corrupt cache file (V8 would crash on it), one made by another Node or one cut short is replaced, and the command runs as without', () => {
    const dir = path.join(tmp, 'cache');
    const env = { ...s.env, QUBES_CODE_CACHE_DIR: dir };
    expect(seen(listing(env))).toEqual(expected);
    const [name] = cacheFiles(dir);
    const file = path.join(dir, name as string);
    const good = fs.readFileSync(file);
    const dataStart = good.indexOf(10) + 1;
    const corrupt = Buffer.from(good);
    for (let i = dataStart + 64; i < corrupt.length; i += 997) corrupt[i] = (corrupt[i] as number) ^ 0x5a;
    const bad: [string, Buffer][] = [
      ['V8 data with flipped bytes', corrupt],
      ['made by another Node version', Buffer.from(good.toString('latin1').replace(process.version, 'v0.0.0'), 'latin1')],
      ['cut short', good.subarray(0, dataStart + 1000)],
    ];
    for (const [what, content] of bad) {
      fs.writeFileSync(file, content);
      const planted = identity(file);
      expect({ what, ...seen(listing(env)) }).toEqual({ what, ...expected });
      // rewritten, and the new one is used as it is
      const rewritten = identity(file);
      expect({ what, rewritten: rewritten !== planted }).toEqual({ what, rewritten: true });
      expect(seen(listing(env))).toEqual(expected);
      expect(identity(file)).toBe(rewritten);
    }
  });

  test('a directory others may write, or that is not the user\'s, is not used; where none can be made, commands run without', () => {
    const open = path.join(tmp, 'open');
    fs.mkdirSync(open, { mode: 0o777 });
    fs.chmodSync(open, 0o777);
    expect(seen(listing({ ...s.env, QUBES_CODE_CACHE_DIR: open }))).toEqual(expected);
    expect(cacheFiles(open)).toEqual([]);
    if (process.getuid?.() === 0) {
      const foreign = path.join(tmp, 'foreign');
      fs.mkdirSync(foreign, { mode: 0o700 });
      fs.chownSync(foreign, 65534, 65534);
      expect(seen(listing({ ...s.env, QUBES_CODE_CACHE_DIR: foreign }))).toEqual(expected);
      expect(cacheFiles(foreign)).toEqual([]);
    }
    // a file where the directory should be; no HOME and no XDG_CACHE_HOME
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, '');
    expect(seen(listing({ ...s.env, QUBES_CODE_CACHE_DIR: path.join(file, 'cache') }))).toEqual(expected);
    const noHome: NodeJS.ProcessEnv = { ...s.env };
    delete noHome.HOME;
    delete noHome.XDG_CACHE_HOME;
    delete noHome.QUBES_CODE_CACHE_DIR;
    expect(seen(listing(noHome))).toEqual(expected);
  });

  test('without QUBES_CODE_CACHE_DIR the cache is $XDG_CACHE_HOME/qubes-dom0-tools, else ~/.cache/qubes-dom0-tools', () => {
    const env: NodeJS.ProcessEnv = { ...s.env, HOME: path.join(tmp, 'home') };
    delete env.QUBES_CODE_CACHE_DIR;
    delete env.XDG_CACHE_HOME;
    expect(seen(listing(env))).toEqual(expected);
    expect(cacheFiles(path.join(tmp, 'home', '.cache', 'qubes-dom0-tools'))).toEqual([expect.stringMatching(/^qvm-ls-[0-9a-f]{8}\.v8cache$/)]);
    expect(seen(listing({ ...env, XDG_CACHE_HOME: path.join(tmp, 'xdg') }))).toEqual(expected);
    expect(cacheFiles(path.join(tmp, 'xdg', 'qubes-dom0-tools'))).toEqual([expect.stringMatching(/^qvm-ls-[0-9a-f]{8}\.v8cache$/)]);
  });
});
