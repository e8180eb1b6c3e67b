// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Chunks larger than the reference's 100 MiB (issue 15): the default chunk
 * size of a backup to a file (1 GiB and 4 MiB: a volume of 101 MiB of
 * random data is one chunk, and so is a volume of 1 GiB of random data
 * with its framing), and with --chunk-size a volume of exactly one chunk (then an
 * empty chunk, spec §2.6) and of one byte more (a chunk of one byte), and
 * an empty volume. Each archive restored bit for bit by the emergency
 * procedure (GNU tar, scrypt, gzip -d), by our qvm-backup-restore (which
 * stages such chunks on disk) and by the reference client's own restore
 * code (qubesadmin.backup.restore, test/backup/ref-read.py).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ByteSource } from '../../lib/backup/byte-source.js';
import { TarReader } from '../../lib/backup/tar-reader.js';
import { processStartTime } from '../../lib/util/process-identity.js';
import { ROOT } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, PYTHON } from '../daemon/daemon-env.js';
import { backupIn, domainFacts, domains, emergencyProcedure, freshHost, MiB, passFile, readMembers, sha256, type Host } from './backup-env.js';

const PASS = 'large chunks!';
const absent = clientMissing();
let src: Host;
const digests = new Map<string, string>();
const QUBES = ['big', 'empty'];

beforeAll(() => {
  src = freshHost();
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'big');
  src.ok('qvm-create', '-l', 'gray', '-t', 'tpl', 'empty');
  // 101 MiB of random data then a hole: more than the reference's chunk even compressed
  fs.truncateSync(src.img('big', 'private'), 120 * MiB);
  const fd = fs.openSync(src.img('big', 'private'), 'r+');
  for (let i = 0; i < 101; i++) fs.writeSync(fd, randomBytes(MiB), 0, MiB, i * MiB);
  fs.closeSync(fd);
  fs.truncateSync(src.img('empty', 'private'), 0);
  for (const vm of QUBES) digests.set(vm, sha256(src.img(vm, 'private')));
});

afterAll(() => fs.rmSync(src.dir, { recursive: true, force: true }));

/** A backup of the two qubes with these options; its file and member sizes by name. */
async function backup(...opts: string[]): Promise<{ file: string; sizes: Map<string, number>; paths: Map<string, string> }> {
  const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
  src.ok('qvm-backup', '-y', '-q', '-p', passFile(src.dir, PASS), ...opts, dest, ...QUBES);
  const file = backupIn(dest);
  const members = await readMembers(file);
  const xml = members.find((m) => m.name === 'qubes.xml.000.enc');
  expect(xml).toBeDefined();
  const probe = emergencyProcedure(file, [], src.dir, PASS);
  const paths = new Map<string, string>();
  for (const [name, d] of domains(fs.readFileSync(path.join(probe, 'qubes.xml'), 'utf8'))) {
    const p = domainFacts(d).features.get('backup-path');
    if (p) paths.set(name, p);
  }
  fs.rmSync(probe, { recursive: true });
  return { file, sizes: new Map(members.map((m) => [m.name, m.data.length])), paths };
}

/** The three restores of `file` give both images bit for bit. */
function restoredEverywhere(file: string, paths: Map<string, string>, reference: boolean): void {
  const files = QUBES.map((vm) => `${paths.get(vm)}private.img`);
  const em = emergencyProcedure(file, files, src.dir, PASS);
  QUBES.forEach((vm, i) => expect(sha256(path.join(em, files[i] as string))).toBe(digests.get(vm)));
  fs.rmSync(em, { recursive: true });

  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  // what a restore killed with SIGKILL left (its process gone), and what a running one stages
  const dead = spawnSync('true').pid;
  const stale = path.join(h.home, `.qubes-restore-${dead}-1-abcdef`);
  fs.mkdirSync(stale);
  fs.writeFileSync(path.join(stale, 'chunk-0-00000000'), 'left by a killed restore');
  const running = `.qubes-restore-${process.pid}-${processStartTime(process.pid)}-ghijkl`;
  fs.mkdirSync(path.join(h.home, running));
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file, ...QUBES);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  for (const vm of QUBES) expect(sha256(h.img(vm, 'private'))).toBe(digests.get(vm));
  // the staged chunks are gone, and the killed restore's with them; the running one's are kept
  expect(fs.readdirSync(h.home).filter((n) => n.startsWith('.qubes-restore-'))).toEqual([running]);
  fs.rmSync(h.dir, { recursive: true, force: true });

  if (!reference) return;
  const out = fs.mkdtempSync(path.join(src.dir, 'ref-'));
  const pf = passFile(src.dir, PASS);
  const ref = spawnSync(PYTHON, [path.join(ROOT, 'test', 'backup', 'ref-read.py'), file, pf, out, ...QUBES], {
    env: { ...process.env, PYTHONPATH: path.join(ROOT, '..', 'shared', 'reference-client') },
    encoding: 'utf8',
  });
  expect(ref.stderr).not.toMatch(/Error|error/);
  expect(ref.status).toBe(0);
  // the reference writes an empty volume's data as nothing at all
  for (const vm of QUBES) expect(sha256(path.join(out, vm, 'private.img'))).toBe(digests.get(vm));
  fs.rmSync(out, { recursive: true });
}

const chunksOf = (sizes: Map<string, number>, vmPath: string) =>
  [...sizes].filter(([n]) => n.startsWith(`${vmPath}private.img.`)).map(([n, size]) => [n.slice(vmPath.length), size - 128]);

describe('default settings to a file', () => {
  testWithout(absent, 'a volume of 101 MiB of random data is one chunk; the three restores read it', async () => {
    const b = await backup();
    const big = chunksOf(b.sizes, b.paths.get('big') as string);
    expect(big).toHaveLength(1);
    expect(big[0]?.[1]).toBeGreaterThan(101 * MiB);
    expect(chunksOf(b.sizes, b.paths.get('empty') as string)).toHaveLength(1);
    restoredEverywhere(b.file, b.paths, true);
  });

  test('a volume of 1 GiB of random data is one chunk: its framing (tar headers, stored gzip blocks) does not spill into a second', async () => {
    const h = freshHost();
    h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
    h.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'gig');
    fs.truncateSync(h.img('gig', 'private'), 0);
    const fd = fs.openSync(h.img('gig', 'private'), 'r+');
    for (let i = 0; i < 64; i++) fs.writeSync(fd, randomBytes(16 * MiB), 0, 16 * MiB, i * 16 * MiB);
    fs.closeSync(fd);
    const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
    h.ok('qvm-backup', '-y', '-q', '-p', passFile(h.dir, PASS), dest, 'gig');
    fs.rmSync(h.img('gig', 'private'));
    // names and sizes only: the chunk itself is not read into memory
    const file = backupIn(dest);
    const r = new TarReader(new ByteSource(fs.createReadStream(file)), { ignoreZeros: true, what: file });
    const chunks: [string, number][] = [];
    for (let e; (e = await r.next()); ) if (/private\.img\.\d+\.enc$/.test(e.name)) chunks.push([e.name.replace(/^.*private/, 'private'), e.size - 128]);
    expect(chunks).toEqual([['private.img.000.enc', expect.any(Number)]]);
    expect(chunks[0]?.[1]).toBeGreaterThan(1024 * MiB);
    fs.rmSync(h.dir, { recursive: true, force: true });
  }, 300_000);
});

describe('--chunk-size', () => {
  let inner = 0;
  beforeAll(async () => {
    // the inner archive's length, uncompressed: one chunk at the default size
    const b = await backup('--no-compress');
    const big = chunksOf(b.sizes, b.paths.get('big') as string);
    expect(big).toHaveLength(1);
    inner = big[0]?.[1] as number;
  });

  testWithout(absent, 'a volume of exactly one chunk: that chunk, then an empty one', async () => {
    const b = await backup('--no-compress', '--chunk-size', String(inner));
    expect(chunksOf(b.sizes, b.paths.get('big') as string)).toEqual([
      ['private.img.000.enc', inner],
      ['private.img.001.enc', 0],
    ]);
    restoredEverywhere(b.file, b.paths, true);
  });

  testWithout(absent, 'one byte more than a chunk: a chunk of one byte after it', async () => {
    const b = await backup('--no-compress', '--chunk-size', String(inner - 1));
    expect(chunksOf(b.sizes, b.paths.get('big') as string)).toEqual([
      ['private.img.000.enc', inner - 1],
      ['private.img.001.enc', 1],
    ]);
    restoredEverywhere(b.file, b.paths, true);
  });

  test('outside 100MiB..4GiB, or not a size: a usage error, nothing written', () => {
    const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
    for (const bad of ['99MiB', '5GiB', 'lots']) {
      const r = src.q('qvm-backup', '-y', '-q', '--chunk-size', bad, '-p', passFile(src.dir, PASS), dest, 'big');
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^qvm-backup: error: --chunk-size/)]);
      expect(fs.readdirSync(dest)).toEqual([]);
    }
  });

  test('to standard output a chunk is held in memory: more than 100 MiB is refused', () => {
    const out = path.join(src.dir, 'stdout-backup');
    const r = spawnSync('sh', ['-c', `"$0" -y -q --chunk-size 200MiB -p "$1" - big > "$2"`, path.join(ROOT, 'bin', 'qvm-backup'), passFile(src.dir, PASS), out], { env: src.env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['qvm-backup: error: A chunk size above 100 MiB needs a file as the destination: on standard output each chunk is held in memory']);
  });
});
