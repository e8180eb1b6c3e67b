import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, tmpStore } from '../helpers.js';
import { describeLacking, lackingRoot } from '../needs.js';

const startTime = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

function lockWith(xml: string, files: Record<string, string>, ageSeconds = 0) {
  const dir = `${xml}.lock`;
  fs.mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  const t = Date.now() / 1000 - ageSeconds;
  fs.utimesSync(dir, t, t);
  return dir;
}

describe('the writers lock', () => {
  test('a lock whose owner process is gone is recovered at once', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const child = spawnSync('true');
    expect(child.pid).toBeGreaterThan(0);
    lockWith(s.xml, { owner: `${child.pid} 12345\n` });
    const t0 = Date.now();
    expect(run('qvm-features', ['vm0001', 'x-a', '1'], s.env).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(fs.existsSync(`${s.xml}.lock`)).toBe(false);
  });

  test('a lock left without a complete owner (killed while writing it) is recovered once old', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    lockWith(s.xml, { 'owner.tmp': `${process.pid}` }, 60);
    expect(run('qvm-features', ['vm0001', 'x-a', '1'], s.env).code).toBe(0);
    expect(fs.readdirSync(s.dir).sort()).toEqual(['qubes.xml']);
  });

  test('a live holder is waited for, then a clear error names it and changes nothing', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const dir = lockWith(s.xml, { owner: `${process.pid} ${startTime(process.pid)}\n` });
    const before = s.read();
    const r = run('qvm-features', ['vm0001', 'x-a', '1'], { ...s.env, QUBES_LOCK_TIMEOUT_MS: '700' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qvm-features: error: Timed out waiting for the lock on ${s.xml}: held by process ${process.pid} (lock directory ${dir})\n`,
    );
    expect(s.read()).toBe(before);
    expect(fs.existsSync(dir)).toBe(true); // not stolen
  });

  test('a fresh lock without an owner yet is not stolen', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const dir = lockWith(s.xml, {});
    const r = run('qvm-features', ['vm0001', 'x-a', '1'], { ...s.env, QUBES_LOCK_TIMEOUT_MS: '500' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/held by an unknown process/);
    expect(fs.existsSync(dir)).toBe(true);
  });

  test.each([
    ['a minute old (was deleted without a word)', 60],
    ['two hours old (was a raw ENOTDIR from rmdir)', 7200],
  ])('a plain file in place of the lock directory, %s, is reported and kept', (_what, age) => {
    const s = tmpStore('qubes-xml/q10.xml');
    const lock = `${s.xml}.lock`;
    fs.writeFileSync(lock, 'not ours\n');
    const t = Date.now() / 1000 - age;
    fs.utimesSync(lock, t, t);
    const before = s.read();
    const r = run('qvm-features', ['vm0001', 'x-a', '1'], { ...s.env, QUBES_LOCK_TIMEOUT_MS: '2000' });
    expect(r.stderr).toBe(
      `qvm-features: error: Cannot lock ${s.xml}: ${lock} is a regular file, not a lock directory of these tools; remove it if no program uses it\n`,
    );
    expect(r.code).toBe(1);
    expect(s.read()).toBe(before);
    expect(fs.readFileSync(lock, 'utf8')).toBe('not ours\n');
  });

  test('a FIFO in place of the owner record is never opened for reading (that would block)', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const dir = lockWith(s.xml, {});
    expect(spawnSync('mkfifo', [path.join(dir, 'owner')]).status).toBe(0);
    const r = spawnSync(path.join(ROOT, 'bin', 'qvm-features'), ['vm0001', 'x-a', '1'], {
      env: { ...s.env, QUBES_LOCK_TIMEOUT_MS: '700' },
      encoding: 'utf8',
      timeout: 10000,
      killSignal: 'SIGKILL', // a process blocked in open() may never run its SIGTERM handler
    });
    expect(r.signal).toBeNull();
    expect(r.stderr).toMatch(/^qvm-features: error: Timed out waiting for the lock on .*: held by an unknown process/);
    expect(r.status).toBe(1);
  });

  test('readers take no lock: listing works while a writer holds it', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    lockWith(s.xml, { owner: `${process.pid} ${startTime(process.pid)}\n` });
    const r = run('qvm-features', ['vm0001'], { ...s.env, QUBES_LOCK_TIMEOUT_MS: '300' });
    expect(r).toEqual({ code: 0, stdout: 'service.cups  1\n', stderr: '' });
  });
});

describe('files next to the store', () => {
  test("a user's own qubes.xml~ backups are left alone; a dead writer's temp file is removed", () => {
    const s = tmpStore('qubes-xml/q10.xml');
    for (const n of ['qubes.xml~', 'qubes.xml~before-upgrade']) fs.copyFileSync(s.xml, path.join(s.dir, n));
    fs.writeFileSync(path.join(s.dir, 'qubes.xml~0123456789ab'), 'partial');
    expect(run('qvm-tags', ['vm0001', 'add', 'z'], s.env).code).toBe(0);
    expect(fs.readdirSync(s.dir).sort()).toEqual(['qubes.xml', 'qubes.xml~', 'qubes.xml~before-upgrade']);
  });
});

/** A private mount namespace needs root, and a kernel and container that allow one. */
const unshareLacking = (): string[] => {
  const root = lackingRoot();
  if (root.length) return root;
  return spawnSync('unshare', ['-m', 'true']).status === 0 ? [] : ['a mount namespace (unshare -m)'];
};

describeLacking({ machine: unshareLacking() }, 'without /proc (a bare chroot)', () => {
  // A private mount namespace with an empty /proc over the real one.
  const noProc = (script: string, env: NodeJS.ProcessEnv) =>
    spawnSync('unshare', ['-m', 'bash', '-c', `mount -t tmpfs none /proc && ${script}`], { env, encoding: 'utf8' });

  test('a live holder is still waited for (its liveness falls back to kill(pid, 0))', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const holder = path.join(s.dir, 'hold.mjs');
    fs.writeFileSync(
      holder,
      `const { lockStore } = await import(${JSON.stringify(path.join(ROOT, 'dist/lib/app/store-lock.js'))});\n` +
        `const release = await lockStore(process.argv[2], 5000);\nconsole.log('held');\n` +
        `await new Promise((r) => setTimeout(r, 1500));\nawait release();\nconsole.log('released');\n`,
    );
    const r = noProc(
      `node ${holder} ${s.xml} & sleep 0.5; ${path.join(ROOT, 'bin/qvm-tags')} vm0001 add x; echo "writer done"; wait`,
      s.env,
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['held', 'released', 'writer done']);
  });

  test('offline mode switches on by itself', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const env = { ...s.env };
    delete env.QUBES_OFFLINE_MODE;
    const r = noProc(`${path.join(ROOT, 'bin/qvm-ls')} --raw-data --fields name,state vm0001`, env);
    expect(r.stdout).toBe('vm0001|Halted\n');
    expect(r.status).toBe(0);
  });
});
