/**
 * Inputs that never end, and signals: a character device is refused at
 * once; a stream of zero blocks ends after a bounded run (the backup
 * header must come within 1 MiB); a restore waiting for input that never
 * comes ends at the first SIGTERM or SIGINT, with its one line.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { vector } from '../helpers.js';
import { bash, BIN, freshHost, passFile, type Host } from './backup-env.js';

const V3 = vector('backup-v3/plain-gzip/backup.bin');

let h: Host;
let pf: string;
beforeAll(() => {
  h = freshHost();
  // what the format 3 vector's qubes need
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'fedora-20-x64');
  pf = passFile(h.dir, 'qubes');
});

/** bash `script` with the restore at most 10 s (killed then: a hang fails the test instead of stopping it). */
const within10s = (script: string) => bash(script.replace('RESTORE', `timeout -s KILL 10 ${BIN('qvm-backup-restore')}`), h.dir, h.env);

/** One error line, nothing else on stderr but the first log line, no stack trace; the store untouched. */
function expectOneLine(r: { code: number; stderr: string }, message: RegExp, before: string): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l && l !== 'app: Checking backup content...');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(h.xml()).toBe(before);
}

test('a character device (/dev/zero, /dev/null, as a file or as standard input) is refused at once', () => {
  const before = h.xml();
  const t0 = Date.now();
  expectOneLine(within10s(`RESTORE -p ${pf} /dev/zero`), /^qvm-backup-restore: error: \/dev\/zero is a character device, not a backup file$/, before);
  for (const dev of ['/dev/zero', '/dev/null']) {
    const r = within10s(`RESTORE -p ${pf} - < ${dev}`);
    expectOneLine(r, /^qvm-backup-restore: error: Standard input is a terminal or a character device, not a backup/, before);
  }
  expect(Date.now() - t0).toBeLessThan(10_000);
});

test('zero bytes where the header should be: a 100 GiB sparse file and an endless pipe end within 1 MiB', () => {
  const before = h.xml();
  const zeros = path.join(h.dir, 'zeros');
  fs.writeFileSync(zeros, '');
  fs.truncateSync(zeros, 100 * 1024 ** 3);
  const message = /^qvm-backup-restore: error: Not a Qubes backup: more than 1 MiB of zero bytes where the backup-header should be$/;
  let t0 = Date.now();
  expectOneLine(within10s(`RESTORE -p ${pf} ${zeros}`), message, before);
  expect(Date.now() - t0).toBeLessThan(10_000);
  fs.rmSync(zeros);
  t0 = Date.now();
  const r = within10s(`cat /dev/zero | RESTORE -p ${pf} -; echo "status: \${PIPESTATUS[*]}" >&2`);
  expect(Date.now() - t0).toBeLessThan(10_000);
  // the restore closes its end: cat gets an error instead of writing forever
  expect(r.stderr).toMatch(/status: [1-9]\d* 1\n$/);
  expectOneLine({ code: 1, stderr: r.stderr.replace(/status: .*\n$/, '').replace(/^cat: .*\n/m, '') }, message, before);
});

test('a backup followed by a long run of zero bytes and then junk: the archive ends at the zeros and restores', () => {
  const g = freshHost();
  const file = path.join(g.dir, 'padded');
  fs.writeFileSync(file, Buffer.concat([fs.readFileSync(V3), Buffer.alloc(2 * 1024 * 1024), randomBytes(64 * 1024)]));
  const r = g.q('qvm-backup-restore', '-p', passFile(g.dir, 'qubes'), file, 'test-standalonevm');
  expect(r.stderr).toContain('-> Done.');
  expect(r.code).toBe(0);
});

/**
 * Start a restore reading a pipe that gives `prefix` and then nothing more;
 * send `signal` after `ms`; its status, stderr and how long it took to end.
 */
function waitingRestore(signal: 'SIGINT' | 'SIGTERM', ms: number, prefix?: Buffer): Promise<{ status: string; stderr: string; elapsed: number }> {
  return new Promise((resolve) => {
    const p = spawn(BIN('qvm-backup-restore'), ['--ignore-missing', '-p', pf, '-'], { env: h.env, stdio: ['pipe', 'ignore', 'pipe'] });
    p.stdin.on('error', () => {});
    if (prefix) p.stdin.write(prefix);
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    let sent = 0;
    const timer = setTimeout(() => {
      sent = Date.now();
      p.kill(signal);
    }, ms);
    const hard = setTimeout(() => p.kill('SIGKILL'), ms + 20_000);
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(hard);
      p.stdin.destroy();
      resolve({ status: sig ?? String(code), stderr, elapsed: Date.now() - sent });
    });
  });
}

test.each(['SIGTERM', 'SIGINT'] as const)('waiting for input that never comes: the first %s ends the restore', async (signal) => {
  const before = h.xml();
  const r = await waitingRestore(signal, 1000);
  expect(r.status).toBe(signal);
  expect(r.elapsed).toBeLessThan(2000);
  expect(r.stderr).toBe('app: Checking backup content...\nqvm-backup-restore: error: Restore cancelled; nothing was restored\n');
  expect(h.xml()).toBe(before);
});

test.each(['SIGTERM', 'SIGINT'] as const)('a backup that stops coming in the middle of its data: the first %s ends the restore, nothing restored', async (signal) => {
  const before = h.xml();
  const filesBefore = h.files();
  const data = fs.readFileSync(V3);
  const r = await waitingRestore(signal, 2000, data.subarray(0, Math.floor(data.length * 0.7)));
  expect(r.status).toBe(signal);
  expect(r.elapsed).toBeLessThan(2000);
  expect(r.stderr).toContain('-> Restoring test-work...');
  expect(r.stderr).toMatch(/\nqvm-backup-restore: error: Restore cancelled; nothing was restored\n$/);
  expect(h.xml()).toBe(before);
  expect(h.files()).toEqual(filesBefore);
});
