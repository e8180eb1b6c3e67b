/**
 * The key derivation process of a backup or restore run
 * (lib/backup/kdf-process.ts): qvm-backup and qvm-backup-restore derive
 * their keys in a child (Node, started with glibc's huge page tunable; the
 * passphrase neither on its command line nor in its environment), and the
 * child, which holds 1 GiB while it derives, never outlives the command:
 * not after a normal end, an error, a Ctrl-C (SIGINT to the process group)
 * or a kill -9 of the command alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, backupIn, freshHost, passFile, sha256, writeAt, type Host } from './backup-env.js';

const PASS = 'kdf process passphrase';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fields of /proc/PID/stat after the command name: [state, ppid, ...]. */
function stat(pid: number): string[] | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The key derivation children of `parent` (their pids). */
function kdfChildren(parent: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (stat(pid)?.[1] !== String(parent)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('kdf-child.cjs')) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The process is gone, or a zombie (no memory left) waiting for a reaper. */
const gone = (pid: number): boolean => {
  const s = stat(pid);
  return s === undefined || s[0] === 'Z';
};

/** Poll `check` every 10 ms for up to `ms`. */
async function waitFor<T>(check: () => T | undefined, ms: number): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

interface Started {
  p: ChildProcess;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** The command's key derivation child, as soon as it runs, with what it was started with. */
  child: Promise<{ pid: number; cmdline: string; environ: string }>;
}

function start(h: Host, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Started {
  // its own process group, so that a Ctrl-C can be sent as a terminal sends it
  const p = spawn(BIN(cmd), args, { env: { ...h.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  p.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) => p.on('close', (code, signal) => r({ code, signal, stderr })));
  const child = waitFor(() => {
    const [pid] = kdfChildren(p.pid as number);
    if (pid === undefined) return undefined;
    try {
      return { pid, cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'), environ: fs.readFileSync(`/proc/${pid}/environ`, 'latin1') };
    } catch {
      return undefined;
    }
  }, 30_000);
  return { p, closed, child };
}

let src: Host;
let pf: string;
let dest: string;
beforeAll(() => {
  // a few chunks at a cost that keeps each derivation visible (a fraction of a second)
  src = freshHost({ QUBES_BACKUP_CHUNK_SIZE: String(256 * 1024), QUBES_BACKUP_SCRYPT_LOGN: '17' });
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  fs.truncateSync(src.img('work', 'private'), 16 * 1024 * 1024);
  writeAt(src.img('work', 'private'), 0, randomBytes(1024 * 1024));
  pf = passFile(src.dir, PASS);
  dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
});

test('a backup and its restore derive in a child started with hugetlb=1 (no passphrase in its command line or environment), gone when the command ends', async () => {
  const b = start(src, 'qvm-backup', ['-y', '-q', '-p', pf, dest, 'work'], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', NODE_OPTIONS: '--no-warnings' });
  const kid = await b.child;
  // glibc has split its tunables where the child's environment sits in memory: look for each
  expect(kid.environ).toContain('GLIBC_TUNABLES=glibc.malloc.arena_max=2');
  expect(kid.environ).toContain('glibc.malloc.hugetlb=1');
  expect(kid.environ).not.toContain('NODE_OPTIONS');
  expect(kid.environ).not.toContain(PASS);
  expect(kid.cmdline).not.toContain(PASS);
  expect(await b.closed).toEqual({ code: 0, signal: null, stderr: '' });
  await waitFor(() => gone(kid.pid) || undefined, 2000);

  const t = freshHost();
  t.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  const r = start(t, 'qvm-backup-restore', ['-q', '-p', pf, backupIn(dest), 'work']);
  const rkid = await r.child;
  expect(rkid.cmdline).not.toContain(PASS);
  expect(await r.closed).toEqual({ code: 0, signal: null, stderr: '' });
  await waitFor(() => gone(rkid.pid) || undefined, 2000);
  expect(sha256(t.img('work', 'private'))).toBe(sha256(src.img('work', 'private')));
}, 180_000);

test('a restore that fails (wrong passphrase) leaves no child', async () => {
  const t = freshHost();
  const r = start(t, 'qvm-backup-restore', ['-q', '-p', passFile(t.dir, 'not the passphrase'), backupIn(dest)]);
  const kid = await r.child;
  const end = await r.closed;
  expect(end.code).toBe(1);
  expect(end.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^qvm-backup-restore: error: Corrupted backup header \(hmac verification failed\)\. Is the password correct\?$/)]);
  await waitFor(() => gone(kid.pid) || undefined, 2000);
}, 120_000);

test('Ctrl-C (SIGINT to the process group) in the middle of a derivation: the backup is cancelled and its child is gone', async () => {
  const d = fs.mkdtempSync(path.join(src.dir, 'int-'));
  const b = start(src, 'qvm-backup', ['-y', '-q', '-p', pf, d, 'work']);
  const kid = await b.child;
  process.kill(-(b.p.pid as number), 'SIGINT');
  const end = await b.closed;
  expect(end).toEqual({ code: null, signal: 'SIGINT', stderr: 'qvm-backup: error: Backup cancelled; the partial backup file was removed\n' });
  await waitFor(() => gone(kid.pid) || undefined, 2000);
  expect(fs.readdirSync(d)).toEqual([]);
}, 120_000);

test('kill -9 of the command alone: its child kills itself at once', async () => {
  const d = fs.mkdtempSync(path.join(src.dir, 'kill-'));
  const b = start(src, 'qvm-backup', ['-y', '-q', '-p', pf, d, 'work']);
  const kid = await b.child;
  process.kill(b.p.pid as number, 'SIGKILL');
  expect((await b.closed).signal).toBe('SIGKILL');
  await waitFor(() => gone(kid.pid) || undefined, 2000);
}, 120_000);
