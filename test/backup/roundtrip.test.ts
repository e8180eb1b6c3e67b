/**
 * Backups written by qvm-backup: restored by the documented emergency
 * procedure (spec §5: GNU tar, Debian's scrypt, gzip -d) to byte-identical
 * images, and by our own qvm-backup-restore. Cases: holes, an empty (all
 * holes) volume, a size not a multiple of 512, data spanning several
 * chunks, uncompressed backups.
 *
 * Small sizes do the same checks cheaper (each image is backed up,
 * restored twice and hashed five times per run): chunks of 8 MiB (the test
 * hook QUBES_BACKUP_CHUNK_SIZE) with 9 MiB of random data, rather than the
 * reference's 100 MiB with 105 MiB; images with holes of 48 and 32 MiB.
 * The default and --chunk-size's bounds, through the same emergency
 * procedure and restores, are chunk-size.test.ts's.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../helpers.js';
import { backupIn, domainFacts, emergencyProcedure, domains, freshHost, MiB, passFile, readMembers, sha256, writeAt, type Host } from './backup-env.js';

const PASS = 'zażółć gęślą jaźń!'; // UTF-8 and the '!' of the key rule
const CHUNK = 8 * MiB;
let src: Host;
const images: [string, string][] = [
  ['tpl', 'root'],
  ['tpl', 'private'],
  ['work', 'private'],
  ['big', 'private'],
  ['zero', 'private'],
];
const digests = new Map<string, string>();

beforeAll(() => {
  src = freshHost();
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  src.ok('qvm-create', '-l', 'green', '-t', 'tpl', 'big');
  src.ok('qvm-create', '-l', 'gray', '-t', 'tpl', 'zero');
  src.ok('qvm-tags', 'work', 'add', 'project-x');
  src.ok('qvm-features', 'work', 'service.cups', '1');
  src.ok('qvm-prefs', 'work', 'memory', '600');
  // holes: data at the start, in the middle and in the last block of the image
  // (images made smaller than their defaults: hashing 10 GiB of holes is slow)
  fs.truncateSync(src.img('tpl', 'root'), 48 * MiB);
  writeAt(src.img('tpl', 'root'), 0, Buffer.from('root start'.repeat(100)));
  writeAt(src.img('tpl', 'root'), 32 * MiB + 512, randomBytes(70_000));
  writeAt(src.img('tpl', 'root'), 48 * MiB - 10, Buffer.from('last bytes'));
  // tpl private stays empty (all holes); zero's private has no bytes at all
  fs.truncateSync(src.img('zero', 'private'), 0);
  fs.truncateSync(src.img('tpl', 'private'), 32 * MiB);
  // a size that is not a multiple of 512, data in the partial last block
  fs.truncateSync(src.img('work', 'private'), 5 * MiB + 1000);
  writeAt(src.img('work', 'private'), 4096, randomBytes(8192));
  writeAt(src.img('work', 'private'), 5 * MiB + 990, Buffer.from('0123456789'));
  // random data: more than a chunk (CHUNK) even after compression, so two chunks
  const fd = fs.openSync(src.img('big', 'private'), 'r+');
  for (let i = 0; i < 9; i++) fs.writeSync(fd, randomBytes(MiB), 0, MiB, i * MiB);
  fs.closeSync(fd);
  for (const [vm, vol] of images) digests.set(`${vm}/${vol}`, sha256(src.img(vm, vol)));
});

const emergencyRestore = (backup: string, files: string[]) => emergencyProcedure(backup, files, src.dir, PASS);

/** backup-path of each qube, from the backup's own qubes.xml as the procedure reads it. */
function backupPaths(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, d] of domains(fs.readFileSync(path.join(dir, 'qubes.xml'), 'utf8'))) {
    const p = domainFacts(d).features.get('backup-path');
    if (p) out.set(name, p);
  }
  return out;
}

describe.each([
  ['gzip', []],
  ['uncompressed', ['--no-compress']],
])('%s backup', (kind, extra) => {
  let backup: string;
  beforeAll(() => {
    const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
    // a chunk size that 'big' spans (chunk-size.test.ts: the default and --chunk-size)
    const r = run('qvm-backup', ['-y', '-p', passFile(src.dir, PASS), ...(extra as string[]), dest, 'tpl', 'work', 'big', 'zero'], { ...src.env, QUBES_BACKUP_CHUNK_SIZE: String(CHUNK) });
    expect(r.stderr).toMatch(/Making a backup\.\.\. 100%/);
    expect(r.code).toBe(0);
    backup = backupIn(dest);
  });

  test('has the reference layout: header, hmac, qubes.xml, chunks in order', async () => {
    const names = (await readMembers(backup)).map((m) => m.name);
    const paths = new Map([['tpl', 'vm1/'], ['work', 'vm2/'], ['big', 'vm3/'], ['zero', 'vm4/']]);
    expect(names).toEqual([
      'backup-header',
      'backup-header.hmac',
      'qubes.xml.000.enc',
      `${paths.get('tpl')}root.img.000.enc`,
      `${paths.get('tpl')}private.img.000.enc`,
      `${paths.get('work')}private.img.000.enc`,
      `${paths.get('big')}private.img.000.enc`,
      `${paths.get('big')}private.img.001.enc`,
      `${paths.get('zero')}private.img.000.enc`,
    ]);
    const header = (await readMembers(backup))[0]?.data.toString();
    expect(header).toMatch(new RegExp(`^version=4\\nencrypted=True\\ncompressed=${kind === 'gzip' ? 'True' : 'False'}\\ncompression-filter=gzip\\nhmac-algorithm=scrypt\\nbackup-id=\\d{8}T\\d{6}-\\d+\\n$`));
    expect(fs.statSync(backup).size % 10240).toBe(0);
  });

  test('the emergency procedure (tar, scrypt, gzip -d) gives byte-identical images', () => {
    const probe = emergencyRestore(backup, []);
    const paths = backupPaths(probe);
    const files = images.map(([vm, vol]) => `${paths.get(vm)}${vol}.img`);
    const dir = emergencyRestore(backup, files);
    images.forEach(([vm, vol], i) => {
      const got = path.join(dir, files[i] as string);
      expect(fs.statSync(got).size).toBe(fs.statSync(src.img(vm, vol)).size);
      expect(sha256(got)).toBe(digests.get(`${vm}/${vol}`));
    });
    // holes stay holes
    expect(fs.statSync(path.join(dir, files[1] as string)).blocks).toBe(0);
  });

  test('our restore gives the same images, properties, features and tags', () => {
    const h = freshHost();
    const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), backup);
    expect(r.code).toBe(0);
    for (const [vm, vol] of images) expect(sha256(h.img(vm, vol))).toBe(digests.get(`${vm}/${vol}`));
    expect(fs.statSync(h.img('work', 'private')).size).toBe(5 * MiB + 1000);
    expect(fs.statSync(h.img('tpl', 'private')).blocks).toBe(0);
    expect(fs.statSync(h.img('zero', 'private')).size).toBe(0);
    const w = domainFacts(domains(h.xml()).get('work') as never);
    expect(w.props.get('memory')).toBe('600');
    expect(w.props.get('template')).toBe('tpl');
    expect(w.features.get('service.cups')).toBe('1');
    expect(w.tags).toContain('project-x');
  });
});
