// A writer killed in the middle of a commit, and an import onto a full
// filesystem: the volume is never lost, the old data stays intact.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { describeLacking } from '../needs.js';
import { mountLacking, mountLoopFs, type LoopFs } from './loopfs.js';
import { MiB, randomFile, sha256, storageEnv, writeRunning, type StorageEnv } from './storage-env.js';

const CHILD = path.join(ROOT, 'test', 'storage', 'fixtures', 'stop-volumes.mjs');

/** Run the stop in a child and SIGKILL it `delayMs` after it is about to stop; whether it finished. */
function stopAndKill(env: NodeJS.ProcessEnv, vm: string, delayMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, vm], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n') && !child.killed) setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      if (err) reject(new Error(err));
      else resolve(out.includes('stopped\n'));
    });
  });
}

/** The first `n` bytes of a file as text. */
const prefix = (file: string, n: number) => {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(n);
  fs.readSync(fd, b, 0, n, 0);
  fs.closeSync(fd);
  return b.toString('utf8');
};

describeLacking(mountLacking(), 'file-reflink under crashes and a full disk (btrfs)', () => {
  let lfs: LoopFs;
  let s: StorageEnv;

  beforeAll(() => {
    lfs = mountLoopFs('btrfs', 384);
    s = storageEnv(lfs.dir);
    s.ok('qubes-create');
    s.ok('qvm-create', '-C', 'StandaloneVM', 'sa', '-l', 'red');
    s.ok('qvm-volume', 'resize', '-f', 'sa:private', '32MiB');
    s.ok('qvm-volume', 'config', 'sa:private', 'revisions_to_keep', '2');
  });
  afterAll(() => lfs?.unmount());

  test('a process killed during stop leaves the old or the new content, never a lost volume', async () => {
    const dir = path.join(lfs.dir, 'appvms', 'sa');
    const clean = path.join(dir, 'private.img');
    const dirty = path.join(dir, 'private-dirty.img');
    let killedMidway = 0;
    for (let gen = 1; gen <= 24; gen++) {
      const qs = await s.storage('sa');
      await qs.start();
      await writeRunning(s, 'sa', 'private', `gen ${String(gen).padStart(3, '0')}`);
      const finished = await stopAndKill(s.env, 'sa', gen % 8);
      const committed = prefix(clean, 7);
      // the committed state is one of the two; if the new one is not committed yet, it waits as dirty
      expect([`gen ${String(gen - 1).padStart(3, '0')}`, `gen ${String(gen).padStart(3, '0')}`, '\0'.repeat(7)]).toContain(committed);
      if (committed !== `gen ${String(gen).padStart(3, '0')}`) {
        killedMidway++;
        expect(prefix(dirty, 7)).toBe(`gen ${String(gen).padStart(3, '0')}`);
      }
      if (!finished) {
        // the next start recovers: continues with the uncommitted data, the stop commits it
        const again = await s.storage('sa');
        await again.start();
        expect(await again.stop()).toEqual([]);
      }
      expect(prefix(clean, 7)).toBe(`gen ${String(gen).padStart(3, '0')}`);
      expect(fs.readdirSync(dir).filter((f) => f.includes('~'))).toEqual([]);
      expect(fs.existsSync(dirty)).toBe(false);
    }
    // some kills must have hit the commit, or this test proved nothing
    expect(killedMidway).toBeGreaterThan(0);
  });

  test('an import onto a full filesystem fails clearly and leaves the old data intact', () => {
    const data = path.join(lfs.dir, '..', 'data.bin');
    randomFile(data, 24 * MiB);
    s.ok('qvm-volume', 'import', '--size', String(24 * MiB), 'sa:private', data);
    const clean = path.join(lfs.dir, 'appvms', 'sa', 'private.img');
    const before = sha256(clean);
    const xmlBefore = fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8');
    // fill the filesystem
    const filler = path.join(lfs.dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    const block = Buffer.alloc(MiB, 0x5a);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch {
      // ENOSPC: full
    }
    fs.closeSync(fd);
    const big = path.join(lfs.dir, '..', 'big.bin');
    randomFile(big, 64 * MiB);
    const r = s.q('qvm-volume', 'import', 'sa:private', big);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qvm-volume: error: Data import failed: .*no space left on device\n$/);
    expect(sha256(clean)).toBe(before);
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toBe(xmlBefore);
    expect(fs.readdirSync(path.join(lfs.dir, 'appvms', 'sa')).filter((f) => /import|~/.test(f))).toEqual([]);
    fs.rmSync(filler);
    fs.rmSync(big);
    fs.rmSync(data);
  });
});
