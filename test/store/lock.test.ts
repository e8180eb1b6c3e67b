import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStore } from '../helpers.js';

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

  test('readers take no lock: listing works while a writer holds it', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    lockWith(s.xml, { owner: `${process.pid} ${startTime(process.pid)}\n` });
    const r = run('qvm-features', ['vm0001'], { ...s.env, QUBES_LOCK_TIMEOUT_MS: '300' });
    expect(r).toEqual({ code: 0, stdout: 'service.cups  1\n', stderr: '' });
  });
});
