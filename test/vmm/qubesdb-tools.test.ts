// SPDX-License-Identifier: GPL-2.0-or-later
// qubesdb-read, -write, -rm, -list, -multiread and -watch through the built
// executables, against daemons started with bin/qubesdb-daemon: output
// formats as the reference tools print them, exit codes, -d/-f/-r/-q/-w/-n.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { QubesDbClient } from '../../lib/vmm/qubesdb/client.js';
import { ROOT, run, runAsync, type RunResult } from '../helpers.js';
import { qdbDir, type QdbDir } from './qubesdb-helpers.js';

let q: QdbDir;
const qdb = (cmd: string, args: string[]): RunResult => run(`qubesdb-${cmd}`, args, q.env);
/** qubesdb-read's stdout as bytes. */
const readRaw = (args: string[]): Buffer => spawnSync(path.join(ROOT, 'bin', 'qubesdb-read'), args, { env: q.env }).stdout;

beforeAll(() => {
  q = qdbDir();
  expect(q.start('work', 12).code).toBe(0);
});
afterAll(async () => {
  await q.cleanup();
});

/** Write with the library (for values the command line cannot carry). */
async function libWrite(entries: [string, string | Buffer][], name = 'work'): Promise<void> {
  const c = await QubesDbClient.open(name, { env: q.env });
  try {
    for (const [p, v] of entries) await c.write(p, v);
  } finally {
    c.close();
  }
}

/** Start `cmd`, then keep writing `path` until it exits (its watch may not be set at first). */
async function whileWriting(cmd: Promise<RunResult>, path: string, name = 'work'): Promise<RunResult> {
  let done = false;
  const result = cmd.then((r) => ((done = true), r));
  const c = await QubesDbClient.open(name, { env: q.env });
  try {
    for (let i = 0; !done && i < 500; i++) {
      await c.write(path, String(i));
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    c.close();
  }
  return result;
}

describe('qubesdb-write and qubesdb-read', () => {
  test('pairs are written; values print one per line, -f with the path', () => {
    expect(qdb('write', ['-d', 'work', '/name', 'work', '/qubes-ip', '10.137.0.12', '/empty', ''])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(qdb('read', ['-d', 'work', '/name', '/qubes-ip', '/empty'])).toEqual({ code: 0, stdout: 'work\n10.137.0.12\n\n', stderr: '' });
    expect(qdb('read', ['-d', 'work', '-f', '/name', '/qubes-ip'])).toEqual({
      code: 0,
      stdout: '/name = work\n/qubes-ip = 10.137.0.12\n',
      stderr: '',
    });
  });

  test('a missing entry: the others still print, one error line each, exit 1; -q keeps quiet', () => {
    expect(qdb('read', ['-d', 'work', '/missing', '/name', '/gone'])).toEqual({
      code: 1,
      stdout: 'work\n',
      stderr: 'qubesdb-read: error: Failed to read /missing\nqubesdb-read: error: Failed to read /gone\n',
    });
    expect(qdb('read', ['-q', '-d', 'work', '/missing', '/name'])).toEqual({ code: 1, stdout: 'work\n', stderr: '' });
  });

  test('bytes outside printable ASCII print as \\xNN; -r prints them as they are', async () => {
    const raw = Buffer.from([0x61, 0x0a, 0x09, 0x7f, 0xc3, 0xa9, 0xff, 0x62]);
    await libWrite([['/bin', raw]]);
    expect(qdb('read', ['-d', 'work', '/bin']).stdout).toBe('a\\x0a\\x09\x7f\\xc3\\xa9\\xffb\n');
    const r = readRaw(['-r', '-d', 'work', '/bin']);
    expect(r.equals(Buffer.concat([raw, Buffer.from('\n')]))).toBe(true);
  });

  test('-w waits for an entry to appear', async () => {
    const r = await whileWriting(runAsync('qubesdb-read', ['-w', '-d', 'work', '/later'], q.env), '/later');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\n$/);
  });

  test('an odd number of arguments is a usage error; a path the client refuses fails that pair only', () => {
    expect(qdb('write', ['-d', 'work', '/a'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'qubesdb-write: error: Invalid number of parameters (PATH VALUE pairs expected)\n',
    });
    expect(qdb('write', ['-d', 'work', 'rel', 'x', '/ok', 'y'])).toEqual({
      code: 1,
      stdout: '',
      stderr: "qubesdb-write: error: Failed to write rel: QubesDB path must start with '/': 'rel'\n",
    });
    expect(qdb('read', ['-d', 'work', '/ok']).stdout).toBe('y\n');
  });

  test('a value the daemon refuses (3072 bytes) fails with exit 1; 3071 bytes pass', () => {
    expect(qdb('write', ['-d', 'work', '/big', 'a'.repeat(3071)]).code).toBe(0);
    expect(qdb('write', ['-d', 'work', '/big', 'a'.repeat(3072)])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qubesdb-write: error: Failed to write /big: the QubesDB daemon of work refused to write /big\n',
    });
  });

  test('options of other commands are usage errors', () => {
    expect(qdb('read', ['-n', '2', '-d', 'work', '/name'])).toMatchObject({ code: 2, stdout: '' });
    expect(qdb('read', [])).toEqual({ code: 2, stdout: '', stderr: 'qubesdb-read: error: the following arguments are required: PATH\n' });
  });
});

describe('qubesdb-list, qubesdb-multiread, qubesdb-rm', () => {
  beforeAll(async () => {
    await libWrite([
      ['/qubes-service/cups', '1'],
      ['/qubes-service/meminfo-writer', '0'],
      ['/qubes-services', 'x'],
      ['/qubes-service/a/deep', 'd'],
    ]);
  });

  test('list prints paths after the given prefix, sorted; -f prints them whole', () => {
    expect(qdb('list', ['-d', 'work', '/qubes-service/'])).toEqual({ code: 0, stdout: 'a/deep\ncups\nmeminfo-writer\n', stderr: '' });
    expect(qdb('list', ['-d', 'work', '/qubes-service'])).toEqual({
      code: 0,
      stdout: '/a/deep\n/cups\n/meminfo-writer\ns\n',
      stderr: '',
    });
    expect(qdb('list', ['-d', 'work', '-f', '/qubes-service/']).stdout).toBe('/qubes-service/a/deep\n/qubes-service/cups\n/qubes-service/meminfo-writer\n');
    expect(qdb('list', ['-d', 'work', '/nothing/'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('list takes exactly one path', () => {
    expect(qdb('list', ['-d', 'work'])).toMatchObject({ code: 2, stdout: '' });
    expect(qdb('list', ['-d', 'work', '/a', '/b'])).toMatchObject({ code: 2, stdout: '' });
  });

  test('multiread prints `PATH = VALUE` lines per prefix, paths relative unless -f', () => {
    expect(qdb('multiread', ['-d', 'work', '/qubes-service/', '/name'])).toEqual({
      code: 0,
      stdout: 'a/deep = d\ncups = 1\nmeminfo-writer = 0\n = work\n',
      stderr: '',
    });
    expect(qdb('multiread', ['-d', 'work', '-f', '/qubes-service/c'])).toEqual({ code: 0, stdout: '/qubes-service/cups = 1\n', stderr: '' });
    expect(qdb('multiread', ['-d', 'work', '/bin']).stdout).toBe(' = a\\x0a\\x09\x7f\\xc3\\xa9\\xffb\n');
  });

  test('rm removes keys and subtrees; removing nothing is no error', () => {
    expect(qdb('rm', ['-d', 'work', '/qubes-service/', '/qubes-services', '/never/there'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(qdb('list', ['-d', 'work', '-f', '/qubes-service']).stdout).toBe('');
    expect(qdb('rm', ['-d', 'work', 'relative'])).toEqual({
      code: 1,
      stdout: '',
      stderr: "qubesdb-rm: error: Failed to remove relative: QubesDB path must start with '/': 'relative'\n",
    });
  });
});

describe('qubesdb-watch', () => {
  test('prints the path of the first change and exits', async () => {
    const r = await whileWriting(runAsync('qubesdb-watch', ['-d', 'work', '/watched/'], q.env), '/watched/key');
    expect(r).toEqual({ code: 0, stdout: '/watched/key\n', stderr: '' });
  });

  test('-n N waits for N changes', async () => {
    const r = await whileWriting(runAsync('qubesdb-watch', ['-d', 'work', '-n', '3', '/w3'], q.env), '/w3');
    expect(r).toEqual({ code: 0, stdout: '/w3\n/w3\n/w3\n', stderr: '' });
  });

  test('-n must be an integer', () => {
    expect(qdb('watch', ['-d', 'work', '-n', 'many', '/x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "qubesdb-watch: error: argument -n: invalid int value: 'many'\n",
    });
  });

  test('when the daemon goes away the watch fails with exit 1', async () => {
    expect(q.start('brief', 3).code).toBe(0);
    const p = spawn(path.join(ROOT, 'bin', 'qubesdb-watch'), ['-d', 'brief', '-n', '-1', '/x'], { env: q.env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((r) => p.on('close', (code) => r(code ?? -1)));
    // the daemon goes only once the watch is in place (its first event seen), however slow the start
    const c = await QubesDbClient.open('brief', { env: q.env });
    for (let i = 0; !stdout && i < 500; i++) {
      await c.write('/x', String(i));
      await new Promise((r) => setTimeout(r, 20));
    }
    c.close();
    expect(stdout).toMatch(/^(\/x\n)+$/);
    await q.stop('brief');
    expect(await exited).toBe(1);
    expect(stdout).toMatch(/^(\/x\n)+$/);
    expect(stderr).toBe('qubesdb-watch: error: Failed to read watch: connection to the QubesDB daemon of brief was lost\n');
  });
});

describe('no daemon', () => {
  test.each(['read', 'write', 'rm', 'list', 'multiread', 'watch'])('qubesdb-%s fails with exit 1 naming the socket; -q silences it', (cmd) => {
    const args = cmd === 'write' ? ['/a', 'b'] : ['/a'];
    const r = qdb(cmd, ['-d', 'ghost', ...args]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`qubesdb-${cmd}: error: the QubesDB daemon of ghost is not running (${q.dir}/qubesdb.ghost.sock: ENOENT)\n`);
    expect(qdb(cmd, ['-q', '-d', 'ghost', ...args])).toEqual({ code: 1, stdout: '', stderr: '' });
  });

  test('without -d the local daemon is used', () => {
    expect(qdb('read', ['/name'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `qubesdb-read: error: the local QubesDB daemon is not running (${q.dir}/qubesdb.sock: ENOENT)\n`,
    });
  });

  test('without -d, dom0 tools reach the daemon of dom0', async () => {
    expect(q.start('dom0', 0).code).toBe(0);
    expect(qdb('write', ['/dom0-key', 'here']).code).toBe(0);
    expect(qdb('read', ['-d', 'dom0', '/dom0-key']).stdout).toBe('here\n');
    await q.stop('dom0');
  });
});
