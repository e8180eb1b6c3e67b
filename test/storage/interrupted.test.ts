// Interrupted work on a `file` pool on ext4 (no reflinks: every copy takes
// a while): qvm-volume import, qvm-clone and qvm-create -r killed with
// SIGKILL at random moments (fixed seeds; some anywhere in the run, most
// while the data is being copied), or stopped by SIGTERM/SIGINT.
// Whatever the moment: the store never lists a qube whose volumes are not
// all there, the next operation succeeds, and qvm-remove leaves nothing.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { mountLacking, mountLoopFs, type LoopFs } from './loopfs.js';
import { MiB, randomFile, sha256, storageEnv, type StorageEnv } from './storage-env.js';

/** A small deterministic generator (mulberry32), so every run kills at the same moments. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

/**
 * Run bin/CMD; send `signal` `delayMs` after the start, or `delayMs` after
 * `when()` first holds (polled every 5 ms). Resolves when the process has ended.
 */
function runAndSignal(env: NodeJS.ProcessEnv, cmd: string, args: string[], signal: NodeJS.Signals, at: { delayMs?: number; when?: () => boolean }): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'bin', cmd), args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sentAt = 0;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const send = () => {
      if (child.exitCode === null && child.signalCode === null) {
        sentAt = Date.now();
        child.kill(signal);
      }
    };
    let poll: NodeJS.Timeout | undefined;
    if (at.when) {
      const cond = at.when;
      poll = setInterval(() => {
        if (cond()) {
          clearInterval(poll);
          setTimeout(send, at.delayMs ?? 0);
        }
      }, 5);
    } else setTimeout(send, at.delayMs ?? 0);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (poll) clearInterval(poll);
      resolve({ code, signal: sig, stderr, ms: sentAt ? Date.now() - sentAt : -1 });
    });
  });
}

/** sha256 of the first `n` bytes (a root volume is as large as its class wants, the image its start). */
function headSha(file: string, n: number): string {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(n);
  const got = fs.readSync(fd, b, 0, n, 0);
  fs.closeSync(fd);
  return createHash('sha256').update(b.subarray(0, got)).digest('hex');
}

const timed = (f: () => void): number => {
  const t = Date.now();
  f();
  return Date.now() - t;
};

describeLacking(mountLacking(), 'interrupted volume work (file pool on ext4)', () => {
  let lfs: LoopFs;
  let s: StorageEnv;
  let xml: string;
  let journal: string;
  let locks: string;
  const imageA = () => path.join(lfs.dir, '..', 'a.img');
  const imageB = () => path.join(lfs.dir, '..', 'b.img');
  /** Whether the store lists the qube (what every command reads). */
  const listed = (name: string) => fs.readFileSync(xml, 'utf8').includes(`<property name="name">${name}</property>`);
  /** Nothing of the unfinished-work machinery is left: no record, no held name, no held volume. */
  const noneUnfinished = () => {
    expect(fs.existsSync(journal) ? fs.readdirSync(journal) : []).toEqual([]);
    expect(fs.existsSync(locks) ? fs.readdirSync(locks) : []).toEqual([]);
  };

  beforeAll(() => {
    lfs = mountLoopFs('ext4', 512);
    s = storageEnv(lfs.dir);
    xml = s.env.QUBES_XML_PATH as string;
    journal = `${xml}.unfinished`;
    locks = path.join(s.env.QUBES_RUN_DIR as string, 'volume-locks');
    s.ok('qubes-create');
    expect(s.ok('qvm-pool')).toMatch(/^varlibqubes +file$/m);
    randomFile(imageA(), 32 * MiB);
    randomFile(imageB(), 32 * MiB);
    s.ok('qvm-create', '-C', 'StandaloneVM', 'big', '-l', 'red');
    s.ok('qvm-volume', 'import', 'big:private', imageA());
  });
  afterAll(() => {
    lfs?.unmount();
    if (s) fs.rmSync(s.env.QUBES_RUN_DIR as string, { recursive: true, force: true });
  });

  test('qvm-volume import killed at random moments: old or new data, and the next import succeeds and leaves nothing', async () => {
    const rand = seeded(11);
    const img = path.join(lfs.dir, 'appvms', 'big', 'private.img');
    const shas = { [imageA()]: sha256(imageA()), [imageB()]: sha256(imageB()) };
    const full = timed(() => s.ok('qvm-volume', 'import', 'big:private', imageB()));
    let current = imageB();
    let leftovers = 0;
    for (let trial = 0; trial < 4; trial++) {
      const next = current === imageA() ? imageB() : imageA();
      const copying = () => fs.existsSync(path.join(lfs.dir, 'appvms', 'big', 'private-import.img'));
      await runAndSignal(s.env, 'qvm-volume', ['import', 'big:private', next], 'SIGKILL', trial % 2 ? { delayMs: full * rand() } : { when: copying, delayMs: 150 * rand() });
      expect([shas[current], shas[next]]).toContain(sha256(img));
      if (fs.existsSync(path.join(lfs.dir, 'appvms', 'big', 'private-import.img'))) leftovers++;
      // the next import is not blocked by what the killed one left
      const r = s.q('qvm-volume', 'import', 'big:private', current);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(sha256(img)).toBe(shas[current]);
      expect(fs.readdirSync(path.dirname(img)).filter((f) => /import|~/.test(f))).toEqual([]);
      noneUnfinished();
    }
    // some kills must have hit the copy, or this test proved nothing
    expect(leftovers).toBeGreaterThan(0);
  });

  test('qvm-clone killed at random moments: a half-made clone is never listed; the next clone or qvm-remove cleans up', async () => {
    const rand = seeded(23);
    const srcSha = sha256(path.join(lfs.dir, 'appvms', 'big', 'private.img'));
    const dir = path.join(lfs.dir, 'appvms', 'bigc');
    const full = timed(() => s.ok('qvm-clone', 'big', 'bigc'));
    s.ok('qvm-remove', '-f', 'bigc');
    let halfMade = 0;
    for (let trial = 0; trial < 5; trial++) {
      // mid-copy: a temporary copy of one of its images exists
      const copying = () => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.includes('~'));
      await runAndSignal(s.env, 'qvm-clone', ['big', 'bigc'], 'SIGKILL', trial % 3 === 2 ? { delayMs: full * rand() } : { when: copying, delayMs: 40 * rand() });
      if (listed('bigc')) {
        // listed: every volume was made and holds the copy
        expect(sha256(path.join(dir, 'private.img'))).toBe(srcSha);
        expect(fs.existsSync(path.join(dir, 'volatile.img'))).toBe(true);
      } else {
        if (fs.existsSync(dir)) halfMade++;
        if (trial % 2 === 0) {
          // the next clone of that name succeeds
          const r = s.q('qvm-clone', 'big', 'bigc');
          expect(r.code).toBe(0);
          expect(r.stderr).toMatch(/^(qvm-clone: warning: removed what an interrupted creation of bigc had made\n)?$/);
          expect(sha256(path.join(dir, 'private.img'))).toBe(srcSha);
        } else if (fs.existsSync(dir)) {
          // or qvm-remove of the half-made name removes its remains
          const r = s.q('qvm-remove', '-f', 'bigc');
          expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: 'qvm-remove: warning: removed what an interrupted creation of bigc had made\n' });
          expect(fs.existsSync(dir)).toBe(false);
        }
      }
      if (listed('bigc')) s.ok('qvm-remove', '-f', 'bigc');
      expect(listed('bigc')).toBe(false);
      expect(fs.existsSync(dir)).toBe(false);
      noneUnfinished();
    }
    expect(halfMade).toBeGreaterThan(0);
  });

  test('qvm-create -r killed at random moments: never listed without its root image; the next create succeeds', async () => {
    const rand = seeded(37);
    const dir = path.join(lfs.dir, 'vm-templates', 'tz');
    const sha = sha256(imageA());
    const rootSha = () => headSha(path.join(dir, 'root.img'), 32 * MiB);
    const args = ['-C', 'TemplateVM', '-l', 'black', '-r', imageA(), 'tz'];
    const full = timed(() => s.ok('qvm-create', ...args));
    s.ok('qvm-remove', '-f', 'tz');
    let halfMade = 0;
    for (let trial = 0; trial < 4; trial++) {
      // mid-copy: the root image is being imported
      const copying = () => fs.existsSync(path.join(dir, 'root-import.img'));
      await runAndSignal(s.env, 'qvm-create', args, 'SIGKILL', trial % 3 === 2 ? { delayMs: full * rand() } : { when: copying, delayMs: 60 * rand() });
      if (listed('tz')) {
        expect(rootSha()).toBe(sha);
      } else {
        if (fs.existsSync(dir)) halfMade++;
        const r = s.q('qvm-create', ...args);
        expect(r.code).toBe(0);
        expect(rootSha()).toBe(sha);
      }
      s.ok('qvm-remove', '-f', 'tz');
      expect(fs.existsSync(dir)).toBe(false);
      noneUnfinished();
    }
    expect(halfMade).toBeGreaterThan(0);
  });

  test('qvm-backup-restore killed while importing: the next restore is not blocked by its import targets', async () => {
    const rand = seeded(41);
    const env = { ...s.env, QUBES_BACKUP_SCRYPT_LOGN: '10', QUBES_DOM0_HOME: path.join(lfs.dir, '..', 'home'), QUBES_DOM0_USER: 'user' };
    fs.mkdirSync(env.QUBES_DOM0_HOME, { recursive: true });
    const pass = path.join(lfs.dir, '..', 'pass');
    fs.writeFileSync(pass, 'passphrase\n');
    const archive = path.join(lfs.dir, '..', 'big.bak');
    const backup = spawnSync(path.join(ROOT, 'bin', 'qvm-backup'), ['-y', '-p', pass, '--no-compress', archive, 'big'], { env, encoding: 'utf8' });
    expect(backup.status).toBe(0);
    const restore = ['-p', pass, '--rename-conflicting', archive, 'big'];
    const dir = path.join(lfs.dir, 'appvms', 'big-1');
    const importing = () => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('-import.img'));
    for (let trial = 0; trial < 2; trial++) {
      const killed = await runAndSignal(env, 'qvm-backup-restore', restore, 'SIGKILL', { when: importing, delayMs: 40 * rand() });
      expect(killed.signal).toBe('SIGKILL');
      expect(listed('big-1')).toBe(false);
      const r = spawnSync(path.join(ROOT, 'bin', 'qvm-backup-restore'), restore, { env, encoding: 'utf8' });
      expect({ code: r.status, stderr: r.stderr.split('\n').filter((l) => /error/.test(l)) }).toEqual({ code: 0, stderr: [] });
      expect(sha256(path.join(dir, 'private.img'))).toBe(sha256(path.join(lfs.dir, 'appvms', 'big', 'private.img')));
      s.ok('qvm-remove', '-f', 'big-1');
      expect(fs.existsSync(dir)).toBe(false);
      noneUnfinished();
    }
    fs.rmSync(archive);
  });

  test('SIGTERM and SIGINT end create, clone and import on the first signal and remove what they made', async () => {
    const before = fs.readFileSync(xml, 'utf8');
    const privSha = sha256(path.join(lfs.dir, 'appvms', 'big', 'private.img'));
    const cases: [NodeJS.Signals, string, string[], string, RegExp][] = [
      ['SIGTERM', 'qvm-create', ['-C', 'TemplateVM', '-l', 'black', '-r', imageB(), 'tz'], 'vm-templates/tz/root-import.img', /^qvm-create: error: Creating tz cancelled; nothing was kept\n$/],
      ['SIGINT', 'qvm-create', ['-C', 'TemplateVM', '-l', 'black', '-r', imageB(), 'tz'], 'vm-templates/tz/root-import.img', /^qvm-create: error: Creating tz cancelled; nothing was kept\n$/],
      ['SIGTERM', 'qvm-clone', ['big', 'bigc'], 'appvms/bigc', /^qvm-clone: error: Creating bigc cancelled; nothing was kept\n$/],
      ['SIGINT', 'qvm-volume', ['import', 'big:private', imageB()], 'appvms/big/private-import.img', /^qvm-volume: error: Import into big:private cancelled; the volume keeps its data\n$/],
    ];
    for (const [sig, cmd, args, busy, message] of cases) {
      // the signal comes while the data is being copied
      const r = await runAndSignal(s.env, cmd, args, sig, { when: () => fs.existsSync(path.join(lfs.dir, busy)) });
      expect({ cmd, sig, signal: r.signal, stderr: r.stderr }).toEqual({ cmd, sig, signal: sig, stderr: expect.stringMatching(message) });
      expect(r.ms).toBeLessThan(3000);
      expect(fs.readFileSync(xml, 'utf8')).toBe(before);
      expect(fs.existsSync(path.join(lfs.dir, 'vm-templates', 'tz'))).toBe(false);
      expect(fs.existsSync(path.join(lfs.dir, 'appvms', 'bigc'))).toBe(false);
      expect(fs.readdirSync(path.join(lfs.dir, 'appvms', 'big')).sort()).toEqual(['private.img', 'root.img', 'volatile.img']);
      expect(sha256(path.join(lfs.dir, 'appvms', 'big', 'private.img'))).toBe(privSha);
      noneUnfinished();
    }
  });

  test('a root image larger than its pool can take fails with one line and leaves nothing', () => {
    const small = mountLoopFs('ext4', 24);
    try {
      s.ok('qvm-pool', 'add', 'small', 'file', '-o', `dir_path=${path.join(small.dir, 'pool')}`);
      const before = fs.readFileSync(xml, 'utf8');
      const r = s.q('qvm-create', '-C', 'TemplateVM', '-l', 'black', '-P', 'small', '-r', imageA(), 'tz');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^qvm-create: error: Error creating VM: Creating the volumes of tz failed, qube removed: Importing the root volume from .* failed: .*No space left on device[^\n]*\n$/);
      expect(fs.readFileSync(xml, 'utf8')).toBe(before);
      expect(fs.existsSync(path.join(small.dir, 'pool', 'vm-templates', 'tz'))).toBe(false);
      expect(fs.existsSync(path.join(lfs.dir, 'vm-templates', 'tz'))).toBe(false);
      noneUnfinished();
      s.ok('qvm-pool', 'remove', 'small');
    } finally {
      small.unmount();
    }
  });
});
