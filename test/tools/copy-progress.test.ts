/**
 * Progress of data copies that are not reflinks (issue 17.5): qvm-clone and
 * qvm-volume import/clone on a `file` pool in tmpfs, which cannot reflink,
 * so cp copies every byte of data. A bar with rate and time left on a
 * terminal (script(1) gives the command one), one line per percent
 * otherwise, nothing with -q; Ctrl-C during the copy leaves nothing.
 *
 * The source image is sparse (2 GiB, DATA bytes of data): the progress
 * counts the data, as the copy does. DATA is large enough for the copy to
 * last several of the progress's 100 ms looks even on a fast machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, run, vector } from '../helpers.js';

const MiB = 1024 * 1024;
const DATA = 512 * MiB;
const BIN = (name: string) => path.join(ROOT, 'bin', name);

let dir: string;
let env: NodeJS.ProcessEnv;
const xml = () => path.join(dir, 'qubes.xml');
const img = (vm: string) => path.join(dir, 'appvms', vm, 'private.img');

/** A file of `data` bytes of data (not zeros: holes would not be copied) and `size` bytes in all. */
function dataFile(file: string, data: number, size: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(MiB, 0xab);
  for (let at = 0; at < data; at += MiB) fs.writeSync(fd, block, 0, MiB, at);
  fs.ftruncateSync(fd, size);
  fs.closeSync(fd);
}

const dataBytes = (file: string) => fs.statSync(file).blocks * 512;

beforeAll(() => {
  // tmpfs: no reflink, so the file pool's cp copies the bytes
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  dir = fs.mkdtempSync(path.join(base, 'qubes-progress-'));
  fs.writeFileSync(xml(), fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8').replaceAll('/var/lib/qubes', dir));
  env = { ...process.env, QUBES_XML_PATH: xml(), QUBES_BASE_DIR: dir, QUBES_RUN_DIR: path.join(dir, 'run'), QUBES_OFFLINE_MODE: '1', NO_COLOR: '1' };
  dataFile(img('vm0000'), DATA, 2048 * MiB);
  // the test is about copies: make sure this filesystem cannot clone
  const probe = path.join(dir, 'reflink-probe');
  expect(() => fs.copyFileSync(img('vm0000'), probe, fs.constants.COPYFILE_FICLONE_FORCE)).toThrow();
  fs.rmSync(probe, { force: true });
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Remove a clone (and its image, to give tmpfs its memory back). */
const removeQube = (name: string) => expect(run('qvm-remove', ['-f', name], env)).toMatchObject({ code: 0 });

/** The percentages of non-terminal progress lines `label N%`, checking that every line is one. */
function percentLines(stderr: string, label: string): number[] {
  const lines = stderr.split('\n');
  expect(lines.pop()).toBe('');
  const re = new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (\\d+)%$`);
  for (const l of lines) expect(l).toMatch(re);
  return lines.map((l) => Number(re.exec(l)?.[1]));
}

/** Strictly rising, ending at 100, more than one. */
function expectRising(pcts: number[]): void {
  expect(pcts.length).toBeGreaterThanOrEqual(2);
  expect(pcts.at(-1)).toBe(100);
  for (let i = 1; i < pcts.length; i++) expect(pcts[i] as number).toBeGreaterThan(pcts[i - 1] as number);
}

test('qvm-clone on a terminal: a bar with the data bytes, rate and time left, redrawn up to 100%', () => {
  const r = spawnSync('script', ['-qfec', `${BIN('qvm-clone')} vm0000 c1`, '/dev/null'], { env, encoding: 'utf8' });
  expect(r.status).toBe(0);
  // each frame is drawn over the previous one (\r), the line cleared after it; a newline ends the last
  const frames = r.stdout.split('\r').filter((f) => f !== '');
  expect(frames.pop()).toBe('\n');
  const frame = /^Copying appvms\/c1\/private\.\.\. \[([#.]{24})\] +(\d+\.\d\d)% (\d+|\S+ [KMG]iB)\/512\.0 MiB (\d+|\S+ [KMG]iB)\/s ETA (\d+:\d\d|--:--)\x1b\[K$/;
  const pcts = frames.map((f) => {
    expect(f).toMatch(frame);
    return Number(frame.exec(f)?.[2]);
  });
  expect(pcts.length).toBeGreaterThanOrEqual(2);
  expect(pcts.some((p) => p < 100)).toBe(true);
  for (let i = 1; i < pcts.length; i++) expect(pcts[i] as number).toBeGreaterThanOrEqual(pcts[i - 1] as number);
  expect(frames.at(-1)).toMatch(/^Copying appvms\/c1\/private\.\.\. \[#{24}\] 100\.00% 512\.0 MiB\/512\.0 MiB \S+( \S+)?\/s ETA 0:00\x1b\[K$/);
  // the copy holds the data and stays sparse
  expect(fs.statSync(img('c1')).size).toBe(2048 * MiB);
  expect(dataBytes(img('c1'))).toBe(DATA);
  removeQube('c1');
});

test('qvm-clone without a terminal: one line per percent up to 100%; nothing with -q', () => {
  const r = run('qvm-clone', ['vm0000', 'c2'], env);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('');
  expectRising(percentLines(r.stderr, 'Copying appvms/c2/private...'));
  removeQube('c2');
  const q = run('qvm-clone', ['-q', 'vm0000', 'c3'], env);
  expect(q).toEqual({ code: 0, stdout: '', stderr: '' });
  expect(dataBytes(img('c3'))).toBe(DATA);
  removeQube('c3');
});

test('a file-reflink pool that cannot reflink (setup_check=no) shows its fallback copies too', () => {
  expect(run('qvm-pool', ['add', 'rl', 'file-reflink', '-o', `dir_path=${path.join(dir, 'rl')}`, '-o', 'setup_check=no'], env).code).toBe(0);
  const r = run('qvm-clone', ['-P', 'rl', 'vm0000', 'r1'], env);
  expect(r.code).toBe(0);
  expectRising(percentLines(r.stderr, 'Copying appvms/r1/private...'));
  expect(dataBytes(path.join(dir, 'rl', 'appvms', 'r1', 'private.img'))).toBe(DATA);
  removeQube('r1');
  expect(run('qvm-pool', ['remove', 'rl'], env).code).toBe(0);
});

test('qvm-volume import and clone show the progress of their copies', () => {
  expect(run('qvm-create', ['-q', '-l', 'red', 'v1'], env).code).toBe(0);
  const src = path.join(dir, 'import.img');
  dataFile(src, 128 * MiB, 128 * MiB);
  const imp = run('qvm-volume', ['import', 'v1:private', src], env);
  expect(imp.code).toBe(0);
  expectRising(percentLines(imp.stderr, 'Importing into v1:private...'));
  expect(fs.statSync(img('v1')).size).toBe(128 * MiB);
  expect(run('qvm-volume', ['import', '-q', 'v1:private', src], env)).toEqual({ code: 0, stdout: '', stderr: '' });
  fs.rmSync(src);
  const cl = run('qvm-volume', ['clone', '-f', 'vm0000:private', 'v1:private'], env);
  expect(cl.code).toBe(0);
  expectRising(percentLines(cl.stderr, 'Copying vm0000:private to v1:private...'));
  expect(dataBytes(img('v1'))).toBe(DATA);
  removeQube('v1');
});

test('Ctrl-C during a clone copy: the progress ends, the clone is not made, nothing is left, the next clone works', async () => {
  const before = fs.readFileSync(xml(), 'utf8');
  const child = spawn(BIN('qvm-clone'), ['vm0000', 'c4'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // the first progress line: the copy is under way
    if (!sent && /^Copying appvms\/c4\/private\.\.\. \d+%\n/.test(stderr)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
  expect(sent).toBe(true);
  expect(signal).toBe('SIGINT');
  expect(stderr).toMatch(/^(Copying appvms\/c4\/private\.\.\. \d+%\n)+qvm-clone: error: Creating c4 cancelled; nothing was kept\n$/);
  expect(stderr).not.toContain('100%');
  expect(fs.readFileSync(xml(), 'utf8')).toBe(before);
  expect(fs.existsSync(path.join(dir, 'appvms', 'c4'))).toBe(false);
  expect(fs.readdirSync(path.join(dir, 'appvms', 'vm0000'))).toEqual(['private.img']);
  expect(fs.existsSync(`${xml()}.unfinished`) ? fs.readdirSync(`${xml()}.unfinished`) : []).toEqual([]);
  const again = run('qvm-clone', ['-q', 'vm0000', 'c4'], env);
  expect(again).toEqual({ code: 0, stdout: '', stderr: '' });
  expect(dataBytes(img('c4'))).toBe(DATA);
  removeQube('c4');
});

test('Ctrl-C on the terminal during a clone copy: the bar line ends before the error line; nothing is left', async () => {
  const before = fs.readFileSync(xml(), 'utf8');
  // the terminal's own Ctrl-C: script(1) passes the character to the pseudo-terminal, which sends SIGINT
  const child = spawn('script', ['-qfec', `${BIN('qvm-clone')} vm0000 c5`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let sent = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!sent && out.includes('Copying appvms/c5/private... [')) {
      sent = true;
      child.stdin.write('\x03');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  expect(sent).toBe(true);
  expect(code).toBe(130);
  // the terminal echoes ^C where the bar was; the bar's line ends, then the one error line
  expect(out).toMatch(/^(\rCopying appvms\/c5\/private\.\.\. \[[#.]{24}\] [^\r\n]*\x1b\[K)+(\^C)?\r\nqvm-clone: error: Creating c5 cancelled; nothing was kept\r\n$/);
  expect(fs.readFileSync(xml(), 'utf8')).toBe(before);
  expect(fs.existsSync(path.join(dir, 'appvms', 'c5'))).toBe(false);
  expect(fs.readdirSync(path.join(dir, 'appvms', 'vm0000'))).toEqual(['private.img']);
});
