// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The parsed-store cache (lib/app/store-cache.ts) through the built
 * commands: it never changes what they print; it is made by a reader and
 * used by the next one; a store changed in place (same inode, size and
 * times) is read again; an entry that is not the user's own, not intact,
 * or in a directory others may write is ignored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, tmpStore, type RunResult, type TmpStore } from '../helpers.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-store-cache-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A store whose commands cache it whatever its size (the default leaves out stores under 128 KiB, like q10). */
function cachedStore(vector: string): TmpStore {
  const s = tmpStore(vector);
  s.env.QUBES_STORE_CACHE_MIN_BYTES = '0';
  return s;
}

const seen = (r: RunResult) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
const ENTRY = 'qubes-xml.json';
/** inode and modification time: a rewritten entry has a new inode (written under another name, renamed). */
const identity = (file: string): string => {
  const st = fs.statSync(file, { bigint: true });
  return `${st.ino}:${st.mtimeNs}`;
};

describe.each(['q10', 'q100', 'q1000'])('%s.xml', (vec) => {
  let s: TmpStore;
  beforeEach(() => {
    s = cachedStore(`qubes-xml/${vec}.xml`);
  });
  afterEach(() => s.remove());

  test('qvm-ls, qvm-prefs and qubes-prefs print the same without the cache, when making it and when using it', () => {
    const runs: [string, string[]][] = [
      ['qvm-ls', []],
      ['qvm-ls', ['--format', 'json']],
      ['qvm-ls', ['--raw-data', '--fields', 'NAME,CLASS,LABEL,NETVM,TEMPLATE,MEMORY,VCPUS,KERNEL,IP,DEFAULT_DISPVM']],
      ['qvm-prefs', ['sys-net']],
      ['qvm-prefs', ['vm0007']],
      ['qubes-prefs', []],
    ];
    for (const [i, [cmd, args]] of runs.entries()) {
      const dir = path.join(tmp, `cache${i}`);
      const entry = path.join(dir, ENTRY);
      const none = run(cmd, args, { ...s.env, QUBES_STORE_CACHE_DIR: dir, QUBES_NO_STORE_CACHE: '1' });
      expect(none.code).toBe(0);
      expect(fs.existsSync(entry)).toBe(false);
      const making = run(cmd, args, { ...s.env, QUBES_STORE_CACHE_DIR: dir });
      const made = identity(entry);
      const using = run(cmd, args, { ...s.env, QUBES_STORE_CACHE_DIR: dir });
      expect(identity(entry)).toBe(made); // used as it was, not made again
      expect({ cmd, args, ...seen(making) }).toEqual({ cmd, args, ...seen(none) });
      expect({ cmd, args, ...seen(using) }).toEqual({ cmd, args, ...seen(none) });
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(entry).mode & 0o777).toBe(0o600);
    }
  });
});

test('text beyond ASCII (kept escaped in the entry) reads back the same from the cache', () => {
  const s = cachedStore('qubes-xml/q10.xml');
  const text = s.read();
  const qube = 'vm0004';
  const at = text.indexOf('</features>', text.indexOf(`>${qube}<`));
  expect(at).toBeGreaterThan(0);
  fs.writeFileSync(s.xml, `${text.slice(0, at)}<feature name="note">\u00e9t\u00e9 \u20ac \u{1F600} \\u00e9</feature>${text.slice(at)}`);
  const dir = path.join(tmp, 'cache');
  const none = run('qvm-features', [qube, 'note'], { ...s.env, QUBES_NO_STORE_CACHE: '1' });
  expect(none).toEqual({ code: 0, stdout: '\u00e9t\u00e9 \u20ac \u{1F600} \\u00e9\n', stderr: '' });
  expect(run('qvm-features', [qube, 'note'], { ...s.env, QUBES_STORE_CACHE_DIR: dir })).toEqual(none);
  const made = identity(path.join(dir, ENTRY));
  expect(run('qvm-features', [qube, 'note'], { ...s.env, QUBES_STORE_CACHE_DIR: dir })).toEqual(none);
  expect(identity(path.join(dir, ENTRY))).toBe(made);
  s.remove();
});

test('a small store is scanned, never cached, unless QUBES_STORE_CACHE_MIN_BYTES says otherwise', () => {
  const s = tmpStore('qubes-xml/q10.xml');
  const dir = path.join(tmp, 'cache');
  const env = { ...s.env, QUBES_STORE_CACHE_DIR: dir };
  expect(run('qvm-ls', ['--raw-list'], env).code).toBe(0);
  expect(fs.existsSync(path.join(dir, ENTRY))).toBe(false);
  expect(run('qvm-ls', ['--raw-list'], { ...env, QUBES_STORE_CACHE_MIN_BYTES: '0' }).code).toBe(0);
  expect(fs.existsSync(path.join(dir, ENTRY))).toBe(true);
  s.remove();
});

describe('the cache never serves another store', () => {
  let s: TmpStore;
  beforeEach(() => {
    s = cachedStore('qubes-xml/q10.xml');
  });
  afterEach(() => s.remove());

  test('a store changed in place with the same size and times is read again, by readers and by writers', () => {
    const dir = path.join(tmp, 'cache');
    const env = { ...s.env, QUBES_STORE_CACHE_DIR: dir };
    // whole seconds, so that setting them again gives exactly the same times
    fs.utimesSync(s.xml, 1700000000, 1700000000);
    expect(run('qvm-prefs', ['vm0004', 'memory'], env)).toEqual({ code: 0, stdout: '400\n', stderr: '' });
    const made = identity(path.join(dir, ENTRY));
    expect(run('qvm-prefs', ['vm0004', 'memory'], env).stdout).toBe('400\n');
    expect(identity(path.join(dir, ENTRY))).toBe(made); // the second run read the entry
    const st = fs.statSync(s.xml, { bigint: true });
    const text = s.read();
    const at = text.indexOf('>vm0004<') + 1;
    // the same length, the same inode, the same times: only the content differs
    const rename = (name: string) => {
      const fd = fs.openSync(s.xml, 'r+');
      fs.writeSync(fd, name, Buffer.byteLength(text.slice(0, at)));
      fs.closeSync(fd);
      fs.utimesSync(s.xml, 1700000000, 1700000000);
    };
    rename('vm9004');
    const now = fs.statSync(s.xml, { bigint: true });
    expect([now.ino, now.size, now.mtimeNs]).toEqual([st.ino, st.size, st.mtimeNs]);
    expect(run('qvm-prefs', ['vm9004', 'memory'], env)).toEqual({ code: 0, stdout: '400\n', stderr: '' });
    expect(run('qvm-prefs', ['vm0004', 'memory'], env)).toMatchObject({ code: 2, stdout: '' });
    // a writer reads under the lock what is there now, and saves it
    rename('vm8004');
    expect(run('qvm-prefs', ['vm8004', 'memory', '500'], env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(s.read()).toContain('>vm8004<');
    expect(s.read()).not.toContain('>vm9004<');
  });
});

describe('an entry is used only when it is the user\'s own, intact, in a private directory', () => {
  const listing = (env: NodeJS.ProcessEnv) => run('qvm-ls', ['--raw-list'], env);
  let s: TmpStore;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let expected: ReturnType<typeof seen>;
  let forged: Buffer;
  beforeEach(() => {
    s = cachedStore('qubes-xml/q10.xml');
    dir = path.join(tmp, 'cache');
    env = { ...s.env, QUBES_STORE_CACHE_DIR: dir };
    expected = seen(listing({ ...env, QUBES_NO_STORE_CACHE: '1' }));
    expect(expected.stdout).toContain('\nvm0004\n');
    expect(seen(listing(env))).toEqual(expected); // makes the entry
    // An entry for these very bytes whose records (both copies of the JSON, same length) name vm0004 'forged'.
    const good = fs.readFileSync(path.join(dir, ENTRY));
    const xmlEnd = good.indexOf(10) + 1 + fs.statSync(s.xml).size;
    const records = good.subarray(xmlEnd).toString('latin1');
    expect(records.split('"vm0004"').length).toBe(3);
    forged = Buffer.concat([good.subarray(0, xmlEnd), Buffer.from(records.replaceAll('"vm0004"', '"forged"'), 'latin1')]);
  });
  afterEach(() => s.remove());

  const plant = (data: Buffer, mode = 0o600) => {
    const file = path.join(dir, ENTRY);
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, data, { mode });
    fs.chmodSync(file, mode);
    return file;
  };

  test('the user\'s own intact entry is what the command reads (so the cases below show it ignored)', () => {
    plant(forged);
    expect(listing(env).stdout).toContain('\nforged\n');
  });

  test('a corrupt or truncated entry, or one of other bytes, is ignored and made again', () => {
    // one copy of the records changed: 'forged' in the first, 'Forged' in the second
    const corrupt = Buffer.from(forged);
    corrupt[corrupt.lastIndexOf('forged')] = 'F'.charCodeAt(0);
    // the store's bytes in the entry changed: an entry for another content of the same length
    const otherStore = Buffer.from(forged);
    otherStore[forged.indexOf('vm0004')] = '9'.charCodeAt(0);
    const cuts = [forged.subarray(0, forged.length - 100), forged.subarray(0, forged.indexOf(10)), Buffer.alloc(0)];
    for (const bad of [corrupt, otherStore, ...cuts]) {
      const file = plant(bad);
      expect(seen(listing(env))).toEqual(expected);
      expect(fs.readFileSync(file).equals(bad)).toBe(false);
    }
  });

  test('an entry others may write is ignored', () => {
    for (const mode of [0o620, 0o602]) {
      plant(forged, mode);
      expect(seen(listing(env))).toEqual(expected);
    }
  });

  (process.getuid?.() === 0 ? test : test.skip)('an entry of another user is ignored', () => {
    const file = plant(forged);
    fs.chownSync(file, 65534, 65534);
    expect(seen(listing(env))).toEqual(expected);
  });

  test('a directory others may write is not used at all', () => {
    const file = plant(forged);
    fs.chmodSync(dir, 0o770);
    expect(seen(listing(env))).toEqual(expected);
    expect(fs.readFileSync(file).equals(forged)).toBe(true); // nor written
  });

  test('a symbolic link as the entry is not followed', () => {
    const elsewhere = path.join(tmp, 'elsewhere.json');
    fs.writeFileSync(elsewhere, forged, { mode: 0o600 });
    fs.rmSync(path.join(dir, ENTRY));
    fs.symlinkSync(elsewhere, path.join(dir, ENTRY));
    expect(seen(listing(env))).toEqual(expected);
  });
});
