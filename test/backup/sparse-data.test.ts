// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The data path of compressible, sparse volumes (issue 15): images with
 * holes at the start, in the middle and at the end, sizes that are not a
 * multiple of 512 or 4096, data that begins and ends off block boundaries,
 * zero blocks written inside data, many small extents (a sparse map of
 * many 512-byte blocks), an image of written zeros and an empty one. One
 * backup with default settings (gzip, encrypted) through `qvm-backup`,
 * restored bit for bit by the emergency procedure (GNU tar, scrypt,
 * gzip -d), by our `qvm-backup-restore` and by the reference client's
 * restore code (test/backup/ref-read.py); our restore keeps the holes.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, PYTHON } from '../daemon/daemon-env.js';
import { backupIn, domainFacts, domains, emergencyProcedure, freshHost, MiB, passFile, sha256, writeAt, type Host } from './backup-env.js';

const PASS = 'sparse data';
const absent = clientMissing();
let src: Host;
const digests = new Map<string, string>();

/** Compressible bytes: lines of text, as in a file system full of documents. */
const text = (n: number, seed: string): Buffer => {
  const line = Buffer.from(`${seed}: the quick brown fox jumps over the lazy dog 0123456789\n`);
  const b = Buffer.alloc(n);
  for (let at = 0; at < n; at += line.length) line.copy(b, at);
  return b;
};

/** Each qube's private image: how it is made (holes are never written). */
const IMAGES: Record<string, (file: string) => void> = {
  // holes at the start, in the middle (two) and at the end; data starting and ending off 512; zeros written inside data
  holes: (f) => {
    fs.truncateSync(f, 24 * MiB + 1234);
    writeAt(f, 3 * MiB, text(1536 * 1024, 'first'));
    writeAt(f, 3 * MiB + 4096, Buffer.alloc(8192));
    writeAt(f, 10 * MiB + 100, text(700 * 1024 + 33, 'second'));
    writeAt(f, 18 * MiB, randomBytes(200 * 1024 + 7));
  },
  // a hole at the start, data up to the last byte of a size that is not a multiple of 512
  tail: (f) => {
    fs.truncateSync(f, 5 * MiB + 777);
    writeAt(f, 4 * MiB + 5, text(MiB + 772, 'tail'));
  },
  // 20000 extents of 512 bytes, each followed by a zero block: a sparse map of 20000 entries
  extents: (f) => {
    fs.truncateSync(f, 20000 * 1024 + 300);
    const b = Buffer.alloc(20000 * 1024);
    for (let i = 0; i < 20000; i++) b.write(`extent ${i}`.padEnd(512, '.'), i * 1024, 'latin1');
    writeAt(f, 0, b);
  },
  // written zeros, not holes
  zeros: (f) => {
    fs.truncateSync(f, 0);
    writeAt(f, 0, Buffer.alloc(4 * MiB + 100));
  },
  empty: (f) => fs.truncateSync(f, 0),
};
const QUBES = Object.keys(IMAGES);

let file = '';
const paths = new Map<string, string>();

beforeAll(() => {
  src = freshHost();
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  for (const vm of QUBES) {
    src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', vm);
    (IMAGES[vm] as (f: string) => void)(src.img(vm, 'private'));
    digests.set(vm, sha256(src.img(vm, 'private')));
  }
  const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
  src.ok('qvm-backup', '-y', '-q', '-p', passFile(src.dir, PASS), dest, ...QUBES);
  file = backupIn(dest);
  const probe = emergencyProcedure(file, [], src.dir, PASS);
  for (const [name, d] of domains(fs.readFileSync(path.join(probe, 'qubes.xml'), 'utf8'))) {
    const p = domainFacts(d).features.get('backup-path');
    if (p) paths.set(name, p);
  }
  fs.rmSync(probe, { recursive: true });
});

afterAll(() => fs.rmSync(src.dir, { recursive: true, force: true }));

/** Bytes of a file on disk (512-byte blocks allocated). */
const allocated = (f: string): number => fs.statSync(f).blocks * 512;

test('the emergency procedure restores every image bit for bit', () => {
  const files = QUBES.map((vm) => `${paths.get(vm)}private.img`);
  const em = emergencyProcedure(file, files, src.dir, PASS);
  QUBES.forEach((vm, i) => expect([vm, sha256(path.join(em, files[i] as string))]).toEqual([vm, digests.get(vm)]));
  fs.rmSync(em, { recursive: true });
});

test('qvm-backup-restore restores every image bit for bit, its holes kept', () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file, ...QUBES);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  for (const vm of QUBES) {
    const img = h.img(vm, 'private');
    expect([vm, sha256(img)]).toEqual([vm, digests.get(vm)]);
    expect(fs.statSync(img).size).toBe(fs.statSync(src.img(vm, 'private')).size);
  }
  // holes stay holes (and written zeros become holes)
  expect(allocated(h.img('holes', 'private'))).toBeLessThan(4 * MiB);
  expect(allocated(h.img('tail', 'private'))).toBeLessThan(2 * MiB);
  expect(allocated(h.img('zeros', 'private'))).toBe(0);
  fs.rmSync(h.dir, { recursive: true, force: true });
});

testWithout(absent, "the reference client's restore code reads every image bit for bit", () => {
  const out = fs.mkdtempSync(path.join(src.dir, 'ref-'));
  const ref = spawnSync(PYTHON, [path.join(ROOT, 'test', 'backup', 'ref-read.py'), file, passFile(src.dir, PASS), out, ...QUBES], {
    env: { ...process.env, PYTHONPATH: path.join(ROOT, '..', 'shared', 'reference-client') },
    encoding: 'utf8',
  });
  expect(ref.stderr).not.toMatch(/Error|error/);
  expect(ref.status).toBe(0);
  for (const vm of QUBES) expect([vm, sha256(path.join(out, vm, 'private.img'))]).toEqual([vm, digests.get(vm)]);
  fs.rmSync(out, { recursive: true });
});
