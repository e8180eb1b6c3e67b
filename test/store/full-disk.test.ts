import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, vector } from '../helpers.js';
import { describeLacking, lackingRoot } from '../needs.js';

/**
 * A 512 KiB tmpfs holding a copy of q100.xml and a filler file of
 * `filler(freeBytes)` bytes; runs one feature write there and hands the
 * result to `check`.
 */
function writeOnSmallFs(
  filler: (freeBytes: number) => number,
  check: (r: ReturnType<typeof run>, xml: string, before: string, dir: string) => void,
): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
  try {
    const xml = path.join(dir, 'qubes.xml');
    fs.copyFileSync(vector('qubes-xml/q100.xml'), xml);
    const before = fs.readFileSync(xml, 'utf8');
    const free = Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().split('\n')[1]);
    try {
      fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(filler(free)));
    } catch {
      /* ENOSPC expected when filling up: whatever fitted stays */
    }
    const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1' };
    check(run('qvm-features', ['vm0001', 'x-big', 'y'], env), xml, before, dir);
  } finally {
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
}

describeLacking({ machine: lackingRoot() }, 'saving on a full filesystem (tmpfs)', () => {
  test('a clear error, the old qubes.xml intact, no temporary file or lock left', () => {
    // Fill the filesystem completely: even the lock's owner file cannot be written.
    writeOnSmallFs(
      () => 1024 * 1024,
      (r, xml, before, dir) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(`qvm-features: error: Cannot lock ${xml}: no space left on device\n`);
        expect(fs.readFileSync(xml, 'utf8')).toBe(before);
        expect(fs.readdirSync(dir).sort()).toEqual(['filler', 'qubes.xml']);
      },
    );
  });

  test('when only the new store does not fit, the save fails cleanly: old store intact, temp file removed', () => {
    // Leave room for the lock's owner file but not for a second store.
    writeOnSmallFs(
      (free) => Math.max(0, free - 64 * 1024),
      (r, xml, before, dir) => {
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(`qvm-features: error: Cannot save ${xml}: no space left on device\n`);
        expect(fs.readFileSync(xml, 'utf8')).toBe(before);
        expect(fs.readdirSync(dir).sort()).toEqual(['filler', 'qubes.xml']);
      },
    );
  });
});
