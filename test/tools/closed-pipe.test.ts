import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStore } from '../helpers.js';

/**
 * One rule in the runner for a standard output that cannot be written:
 * its reader gone (EPIPE) ends the command quietly with 141 (128 +
 * SIGPIPE, what the shell reports for `ls` or `cat` there); any other
 * failure is one line and exit 1. Never a Node stack trace.
 */

const s = tmpStore('qubes-xml/q1000.xml');
afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

const cases: [string, string[]][] = [
  ['qvm-ls', []],
  ['qvm-ls', ['--tree']],
  ['qvm-ls', ['--format', 'full']],
  ['qvm-volume', ['list']],
  ['qvm-volume', ['info', 'vm0001:private']],
];

/** Run with standard output a pipe whose reader is gone before the command writes anything. */
function withReaderGone(cmd: string, args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(path.join(ROOT, 'bin', cmd), args, { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.destroy(); // our end of the pipe closed: the command's first write fails with EPIPE
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('a closed standard output ends the command quietly', () => {
  test.each(cases)('%s %j, its reader gone: exit 141, nothing on stderr', async (cmd, args) => {
    expect(await withReaderGone(cmd, args)).toEqual({ code: 141, signal: null, stderr: '' });
  });

  // Listings longer than a pipe holds (64 KiB) plus what head reads (8 KiB), so head is gone before they are written.
  test.each([cases[2], cases[3]] as [string, string[]][])('%s %j | head -1: the first line, then exit 141 without a trace', (cmd, args) => {
    const r = spawnSync('bash', ['-c', '"$@" 2>"$ERR" | head -1; echo "status ${PIPESTATUS[0]}"', 'bash', path.join(ROOT, 'bin', cmd), ...args], {
      env: { ...s.env, ERR: path.join(s.dir, 'stderr') },
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/^(NAME|POOL:VOLUME) .*\nstatus 141\n$/);
    expect(fs.readFileSync(path.join(s.dir, 'stderr'), 'utf8')).toBe('');
  });

  test('any other failure to write (a full disk) is one line and exit 1', () => {
    const out = fs.openSync('/dev/full', 'w');
    try {
      const r = spawnSync(path.join(ROOT, 'bin', 'qvm-ls'), [], { env: s.env, stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
      expect(r.stderr).toBe('qvm-ls: error: cannot write to standard output: no space left on device\n');
      expect(r.status).toBe(1);
    } finally {
      fs.closeSync(out);
    }
  });
});

/*
 * The runner writes text straight to descriptor 1 (fs.writeSync), not
 * through process.stdout; a descriptor left non-blocking by the caller
 * answers EAGAIN once its pipe is full, and the rest goes through the
 * stream: all of it, in order.
 */
test('a non-blocking pipe that fills up before its reader reads gets the whole listing, in order', () => {
  const slowReader = [
    'import array, fcntl, os, subprocess, sys, termios, time',
    'r, w = os.pipe()',
    'os.set_blocking(w, False)',
    'p = subprocess.Popen(sys.argv[1:], stdout=w)',
    'os.close(w)',
    'queued = array.array("i", [0])',
    '# not a byte read until the pipe is full (64 KiB): the command meets EAGAIN',
    'while fcntl.ioctl(r, termios.FIONREAD, queued) == 0 and queued[0] < 65536 and p.poll() is None: time.sleep(0.01)',
    'time.sleep(0.2)',
    'out = b""',
    'while chunk := os.read(r, 65536): out += chunk',
    'sys.stdout.buffer.write(out)',
    'sys.exit(p.wait())',
  ].join('\n');
  const args = ['--format', 'full'];
  const expected = spawnSync(path.join(ROOT, 'bin', 'qvm-ls'), args, { env: s.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  expect(expected.stdout.length).toBeGreaterThan(65536);
  const r = spawnSync('python3', ['-c', slowReader, path.join(ROOT, 'bin', 'qvm-ls'), ...args], { env: s.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  expect(r.stdout === expected.stdout).toBe(true);
});
