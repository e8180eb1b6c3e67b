import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, vector } from '../helpers.js';

const isRoot = process.getuid?.() === 0;

(isRoot ? describe : describe.skip)('saving on a full filesystem (tmpfs, needs root)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
  });
  afterAll(() => {
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  });

  test('a clear error, the old qubes.xml intact, no temporary file or lock left', () => {
    const xml = path.join(dir, 'qubes.xml');
    fs.copyFileSync(vector('qubes-xml/q100.xml'), xml);
    const before = fs.readFileSync(xml, 'utf8');
    // Fill the filesystem so a second copy of the store cannot be written.
    try {
      fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(1024 * 1024));
    } catch {
      /* ENOSPC expected: whatever fitted stays */
    }
    const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1' };
    const r = run('qvm-features', ['vm0001', 'x-big', 'y'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`qvm-features: error: Cannot lock ${xml}: no space left on device\n`);
    expect(fs.readFileSync(xml, 'utf8')).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual(['filler', 'qubes.xml']);
  });
});

(isRoot ? describe : describe.skip)('saving when only the new store does not fit (tmpfs, needs root)', () => {
  test('the save itself fails cleanly: old store intact, temp file removed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-full2-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', dir]);
    try {
      const xml = path.join(dir, 'qubes.xml');
      fs.copyFileSync(vector('qubes-xml/q100.xml'), xml);
      const before = fs.readFileSync(xml, 'utf8');
      // Leave room for the lock's owner file but not for a second store.
      const free = Number(execFileSync('df', ['--output=avail', '-B1', dir]).toString().split('\n')[1]);
      fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(Math.max(0, free - 64 * 1024)));
      const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1' };
      const r = run('qvm-features', ['vm0001', 'x-big', 'y'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`qvm-features: error: Cannot save ${xml}: no space left on device\n`);
      expect(fs.readFileSync(xml, 'utf8')).toBe(before);
      expect(fs.readdirSync(dir).sort()).toEqual(['filler', 'qubes.xml']);
    } finally {
      execFileSync('umount', [dir]);
      fs.rmdirSync(dir);
    }
  });
});
