/**
 * The format pieces against GNU tar and the header rules: our tar reader on
 * what GNU tar writes (old-GNU sparse with extension blocks, pax sparse 0.1
 * and 1.0, long names), GNU tar on what our writer makes, the scrypt
 * container's limits, and the header validation messages of the reference.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseHeader } from '../../lib/backup/backup-header.js';
import { ByteSource } from '../../lib/backup/byte-source.js';
import { containerParams, decryptBuffer, encryptBuffer } from '../../lib/backup/scrypt-container.js';
import { TarReader } from '../../lib/backup/tar-reader.js';
import { sparseImageTar } from '../../lib/backup/tar-writer.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-tar-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A sparse file with 30 data runs of 4 KiB every 12 KiB (old-GNU needs extension blocks past 4), and a partial last block. */
function fragmented(file: string): Buffer {
  const size = 30 * 12288 + 1000;
  const content = Buffer.alloc(size);
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  for (let i = 0; i < 30; i++) {
    const b = Buffer.alloc(4096, i + 1);
    b.copy(content, i * 12288 + 4096);
    fs.writeSync(fd, b, 0, b.length, i * 12288 + 4096);
  }
  const tail = Buffer.from('t'.repeat(10));
  tail.copy(content, size - 10);
  fs.writeSync(fd, tail, 0, 10, size - 10);
  fs.closeSync(fd);
  return content;
}

/** Read the one member of a tar file with our reader and rebuild the file. */
async function rebuild(tarFile: string): Promise<{ name: string; data: Buffer; sparse: boolean }> {
  const r = new TarReader(new ByteSource(fs.createReadStream(tarFile)), { what: tarFile });
  const e = await r.next();
  if (!e) throw new Error('empty');
  const out = Buffer.alloc(e.size);
  const body = Buffer.concat(await (async () => {
    const parts: Buffer[] = [];
    for await (const p of r.body()) parts.push(Buffer.from(p));
    return parts;
  })());
  let at = 0;
  for (const [off, len] of e.sparse ?? [[0, e.size]]) {
    body.copy(out, off, at, at + len);
    at += len;
  }
  expect(await r.next()).toBeNull();
  return { name: e.name, data: out, sparse: e.sparse !== undefined };
}

const tar = (args: string[]) => {
  const r = spawnSync('tar', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

describe('reading what GNU tar writes', () => {
  const content = fragmented(path.join(dir, 'frag.img'));
  test.each([
    ['old-GNU sparse with extension blocks', ['--format=gnu']],
    ['pax sparse 1.0', ['--format=posix', '--sparse-version=1.0']],
    ['pax sparse 0.1', ['--format=posix', '--sparse-version=0.1']],
  ])('%s', async (_label, fmt) => {
    const out = path.join(dir, `frag-${fmt.join('')}.tar`);
    tar(['-c', '--sparse', ...fmt, '-f', out, 'frag.img']);
    const got = await rebuild(out);
    expect(got.name).toBe('frag.img');
    expect(got.sparse).toBe(true);
    expect(got.data.equals(content)).toBe(true);
  });

  test('long names (GNU L records and pax path)', async () => {
    const long = `${'d'.repeat(60)}/${'f'.repeat(120)}.txt`;
    fs.mkdirSync(path.join(dir, 'd'.repeat(60)), { recursive: true });
    fs.writeFileSync(path.join(dir, long), 'long');
    for (const fmt of ['gnu', 'posix']) {
      const out = path.join(dir, `long-${fmt}.tar`);
      tar(['-c', `--format=${fmt}`, '-f', out, long]);
      const got = await rebuild(out);
      expect(got.name).toBe(long);
      expect(got.data.toString()).toBe('long');
    }
  });
});

test('GNU tar reads our sparse image archive: same bytes, no warning, holes kept', async () => {
  const src = path.join(dir, 'frag2.img');
  const content = fragmented(src);
  const fd = fs.openSync(src, 'r');
  const parts: Buffer[] = [];
  for await (const b of sparseImageTar(fd, content.length, 'vm7/private.img')) parts.push(b);
  fs.closeSync(fd);
  const out = path.join(dir, 'ours.tar');
  fs.writeFileSync(out, Buffer.concat(parts));
  expect(tar(['-tvvf', out])).toMatch(/^-rw-r--r-- 0\/0\s+369640 1970-01-01 00:00 vm7\/private\.img\n$/);
  const x = path.join(dir, 'x');
  fs.mkdirSync(x);
  const r = spawnSync('tar', ['-xf', out, '-C', x], { encoding: 'utf8' });
  expect(r).toMatchObject({ status: 0, stderr: '' });
  expect(fs.readFileSync(path.join(x, 'vm7/private.img')).equals(content)).toBe(true);
  expect(fs.statSync(path.join(x, 'vm7/private.img')).blocks * 512).toBeLessThan(content.length);
});

test('scrypt container: wrong key, damage, absurd parameters', async () => {
  const enc = await encryptBuffer('pw', Buffer.from('data'), { logN: 10, r: 8, p: 1 });
  expect((await decryptBuffer('pw', enc)).toString()).toBe('data');
  await expect(decryptBuffer('px', enc)).rejects.toThrow('Passphrase is incorrect');
  const bad = Buffer.from(enc);
  bad[100] = (bad[100] as number) ^ 1;
  await expect(decryptBuffer('pw', bad)).rejects.toThrow('Input is not valid scrypt-encrypted block');
  await expect(decryptBuffer('pw', enc.subarray(0, 120))).rejects.toThrow('Input is not valid scrypt-encrypted block');
  // logN=40 would need 128 TiB: refused before any derivation (the header's own check value recomputed)
  const hostile = Buffer.from(enc);
  hostile[7] = 40;
  const crypto = await import('node:crypto');
  crypto.createHash('sha256').update(hostile.subarray(0, 48)).digest().copy(hostile, 48, 0, 16);
  expect(() => containerParams(hostile)).toThrow(/need \d+ MiB of memory, more than the allowed 2048 MiB/);
});

describe('header validation (after authentication)', () => {
  const ok = 'version=4\nencrypted=True\ncompressed=True\ncompression-filter=gzip\nhmac-algorithm=scrypt\nbackup-id=20250101T120000-42\n';
  test('a valid header; unknown keys ignored', () => {
    expect(parseHeader(Buffer.from(ok + 'extra-key=1\n'))).toMatchObject({ version: 4, compressed: true, compressionFilter: 'gzip', backupId: '20250101T120000-42' });
  });
  test.each([
    [ok.replace('gzip', 'evil'), "Unusual compression filter 'evil' found. Use --compression-filter=evil to use it anyway."],
    [ok + 'version=4\n', 'Duplicated header line: version'],
    [ok.replace('backup-id=20250101T120000-42', 'backup-id=-x'), 'Invalid backup header (backup-id)'],
    [ok.replace('version=4', 'version=5'), 'Unsupported backup version 5'],
    [ok.replace('gzip', 'gz ip'), 'Invalid backup header (value)'],
    [ok + 'ünicode=1\n', 'Non-ASCII characters in backup header'],
    [ok + '\n\n', 'Invalid backup header'],
    [ok.replace('backup-id=20250101T120000-42\n', ''), "Backup header lack 'backup-id' info"],
  ])('%j', (text, message) => {
    expect(() => parseHeader(Buffer.from(text))).toThrow(message);
  });
  test('-Z replaces the filter before the whitelist', () => {
    expect(parseHeader(Buffer.from(ok.replace('gzip', 'evil')), { forcedFilter: 'cat' }).compressionFilter).toBe('cat');
  });
});
