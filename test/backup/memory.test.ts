// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backup and restore with the real key derivation (scrypt N=2^20, 1 GiB
 * each) in a memory cgroup (issue 15): limited to 2 GiB both finish (one
 * derivation at a time, chunks streamed, never an out-of-memory kill);
 * limited to 1 GiB, where one derivation cannot be afforded, qvm-backup
 * and qvm-backup-restore stop before writing anything with one clear line.
 *
 * The cgroup is a child of the test process's own memory cgroup (v1 or
 * v2), so the machine's accounting above it stays as it is; skipped where
 * none can be made.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { testLacking } from '../needs.js';
import { backupIn, BIN, freshHost, MiB, passFile, sha256, writeAt } from './backup-env.js';

const GiB = 1024 * MiB;
const PASS = 'memory limits';

/** A new memory cgroup of `limit` bytes under this process's own, or undefined where none can be made. */
function memoryCgroup(limit: number): string | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'))?.[2];
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const tries: [string, string][] = [];
  if (v1 !== undefined) tries.push([path.join('/sys/fs/cgroup/memory', v1), 'memory.limit_in_bytes']);
  if (v2 !== undefined) tries.push([path.join('/sys/fs/cgroup', v2), 'memory.max']);
  for (const [parent, file] of tries) {
    const dir = path.join(parent, `qubes-backup-test-${process.pid}-${limit}`);
    try {
      fs.mkdirSync(dir);
    } catch {
      continue;
    }
    try {
      fs.writeFileSync(path.join(dir, file), String(limit));
      return dir;
    } catch {
      fs.rmdirSync(dir);
    }
  }
  return undefined;
}

const cgroups: string[] = [];
const cg2 = memoryCgroup(2 * GiB);
const cg1 = memoryCgroup(1 * GiB);
for (const c of [cg2, cg1]) if (c) cgroups.push(c);
const lacking = { machine: cg2 && cg1 ? [] : ['a memory cgroup this process may create (v1 or v2)'] };

afterAll(() => {
  for (const c of cgroups) {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(c);
        break;
      } catch {
        spawnSync('sleep', ['0.1']);
      }
    }
  }
});

/** Run a built command inside cgroup `cg`. */
function inCgroup(cg: string, cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, BIN(cmd), ...args], { env, encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

testLacking(lacking, 'under 2 GiB a backup and its restore finish with the real key derivation; under 1 GiB one clear line and nothing written', () => {
  const h = freshHost({ QUBES_BACKUP_SCRYPT_LOGN: '' });
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  h.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  fs.truncateSync(h.img('work', 'private'), 64 * MiB);
  writeAt(h.img('work', 'private'), MiB, randomBytes(24 * MiB));
  const digest = sha256(h.img('work', 'private'));
  const pf = passFile(h.dir, PASS);

  const denied = fs.mkdtempSync(path.join(h.dir, 'denied-'));
  const no = inCgroup(cg1 as string, 'qvm-backup', ['-y', '-q', '-p', pf, denied, 'work'], h.env);
  expect(no.signal).toBeNull();
  expect(no.code).toBe(1);
  expect(no.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^qvm-backup: error: Not enough memory for the scrypt key derivation: it needs \d+ MiB, only \d+ MiB available$/)]);
  expect(fs.readdirSync(denied)).toEqual([]);

  const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
  const b = inCgroup(cg2 as string, 'qvm-backup', ['-y', '-q', '-p', pf, dest, 'work'], h.env);
  expect(b.signal).toBeNull();
  expect(b.stderr).toBe('');
  expect(b.code).toBe(0);

  const t = freshHost();
  t.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  const before = t.xml();
  const short = inCgroup(cg1 as string, 'qvm-backup-restore', ['-q', '-p', pf, backupIn(dest), 'work'], t.env);
  expect(short.signal).toBeNull();
  expect(short.code).toBe(1);
  expect(short.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^qvm-backup-restore: error: Not enough memory for the scrypt key derivation: it needs \d+ MiB, only \d+ MiB available$/)]);
  expect(t.xml()).toBe(before);
  const r = inCgroup(cg2 as string, 'qvm-backup-restore', ['-q', '-p', pf, backupIn(dest), 'work'], t.env);
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  expect(sha256(t.img('work', 'private'))).toBe(digest);
  for (const x of [h, t]) fs.rmSync(x.dir, { recursive: true, force: true });
}, 900_000);
