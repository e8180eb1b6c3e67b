/**
 * Damaged and hostile archives: each refused with one clear error line, a
 * non-zero exit, in restore and --verify-only mode alike, and nothing left
 * in place (store unchanged, no image, no import leftover).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { encryptBuffer, chunkPassword } from '../../lib/backup/scrypt-container.js';
import { backupIn, expectRefused as refused, freshHost, passFile, readMembers, writeAt, writeMembers, type Host, type Member } from './backup-env.js';

const PASS = 'hunter2';
let src: Host;
let good: Member[];
let other: Member[];
/** tpl and dom0's home of several chunks. */
let withHome: Member[];
let work: string;

/** Two backups of the same qubes with the same passphrase; small chunks (64 KiB) so a file has several. */
beforeAll(async () => {
  src = freshHost({ QUBES_BACKUP_CHUNK_SIZE: String(64 * 1024) });
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  writeAt(src.img('work', 'private'), 0, randomBytes(300 * 1024));
  writeAt(src.img('tpl', 'root'), 0, randomBytes(10 * 1024));
  const make = async () => {
    const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
    src.ok('qvm-backup', '-y', '-q', '-p', passFile(src.dir, PASS), dest, 'tpl', 'work');
    return readMembers(backupIn(dest));
  };
  good = await make();
  await new Promise((r) => setTimeout(r, 1100)); // another backup-id
  other = await make();
  fs.writeFileSync(path.join(src.home, 'photo.raw'), randomBytes(200 * 1024));
  const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
  src.ok('qvm-backup', '-y', '-q', '-p', passFile(src.dir, PASS), dest, 'tpl', 'dom0');
  withHome = await readMembers(backupIn(dest));
  work = (good.find((m) => /^vm\d+\/private\.img\.000\.enc$/.test(m.name) && m.data.length > 64 * 1024)?.name ?? '').replace(/private\.img\.000\.enc$/, '');
  expect(good.filter((m) => m.name.startsWith(`${work}private.img.`)).length).toBeGreaterThanOrEqual(5);
});

const chunk = (i: number) => `${work}private.img.${String(i).padStart(3, '0')}.enc`;
const idx = (ms: Member[], name: string) => ms.findIndex((m) => m.name === name);

/** Restore (and verify) `members` into a fresh store; both must fail with `message`, leaving nothing. */
const expectRefused = (members: Member[], message: RegExp, pass = PASS): void => refused(members, message, { pass });

const flip = (m: Member, at: number): Member => {
  const data = Buffer.from(m.data);
  data[at] = (data[at] as number) ^ 0x01;
  return { name: m.name, data };
};

test('the untouched backup restores (control)', () => {
  const h = freshHost();
  const file = path.join(h.dir, 'ok-backup');
  writeMembers(file, good);
  expect(h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file).code).toBe(0);
});

test('wrong passphrase', () => {
  expectRefused(good, /Corrupted backup header \(hmac verification failed\)\. Is the password correct\?/, 'hunter3');
});

test('a flipped byte in any member', () => {
  const names = ['backup-header.hmac', 'qubes.xml.000.enc', chunk(0), chunk(2), good.at(-1)?.name as string];
  for (const name of names) {
    const i = idx(good, name);
    for (const at of [100, (good[i] as Member).data.length - 1]) {
      const bad = [...good];
      bad[i] = flip(good[i] as Member, at);
      expectRefused(bad, name === 'backup-header.hmac' ? /Corrupted backup header/ : new RegExp(`failed to decrypt ${name.replace(/\./g, '\\.')}: Input is not valid scrypt-encrypted block`));
    }
  }
});

test('a changed header (compressed=False), even with its hmac file left alone', () => {
  const bad = [...good];
  bad[0] = { name: 'backup-header', data: Buffer.from((good[0] as Member).data.toString().replace('compressed=True', 'compressed=False')) };
  expectRefused(bad, /Corrupted backup header/);
});

test('a chunk removed: in the middle, the last one, the first one', () => {
  expectRefused(good.filter((m) => m.name !== chunk(2)), /Unexpected file in archive: .*private\.img\.003\.enc, expected .*private\.img\.002\.enc/);
  const last = good.filter((m) => m.name.startsWith(`${work}private.img.`)).at(-1)?.name as string;
  expectRefused(good.filter((m) => m.name !== last), /Missing chunk in archive: .*private\.img\.\d{3}\.enc/);
  expectRefused(good.filter((m) => m.name !== chunk(0)), /expected .*private\.img\.000\.enc first/);
});

test('a whole qube removed from the archive', () => {
  expectRefused(good.filter((m) => !m.name.startsWith(work)), /The backup is incomplete: .*private\.img of work missing/);
});

test('two chunks swapped in place, or their names swapped', () => {
  const swapped = [...good];
  const a = idx(good, chunk(1));
  const b = idx(good, chunk(2));
  [swapped[a], swapped[b]] = [good[b] as Member, good[a] as Member];
  expectRefused(swapped, /Unexpected file in archive: .*private\.img\.002\.enc, expected .*private\.img\.001\.enc/);
  const renamed = [...good];
  renamed[a] = { name: chunk(1), data: (good[b] as Member).data };
  renamed[b] = { name: chunk(2), data: (good[a] as Member).data };
  expectRefused(renamed, /failed to decrypt .*private\.img\.001\.enc: Passphrase is incorrect/);
});

test('a chunk duplicated', () => {
  const dup = [...good];
  dup.splice(idx(good, chunk(2)), 0, good[idx(good, chunk(1))] as Member);
  expectRefused(dup, /Unexpected file in archive: .*private\.img\.001\.enc, expected .*private\.img\.002\.enc/);
});

test('chunks of two backups with the same passphrase mixed', () => {
  const mixed = [...good];
  mixed[idx(good, chunk(2))] = other[idx(other, chunk(2))] as Member;
  expectRefused(mixed, /failed to decrypt .*private\.img\.002\.enc: Passphrase is incorrect/);
});

test('a truncated archive', () => {
  const h = freshHost();
  const full = path.join(h.dir, 'full');
  writeMembers(full, good);
  const data = fs.readFileSync(full);
  const members = good.slice(0, idx(good, chunk(3)));
  members.push({ name: chunk(3), data: (good[idx(good, chunk(3))] as Member).data.subarray(0, 1000) });
  expectRefused(members, /failed to decrypt .*private\.img\.003\.enc: Input is not valid scrypt-encrypted block/);
  // cut in the middle of a member: the outer archive itself ends early
  const file = path.join(h.dir, 'cut');
  fs.writeFileSync(file, data.subarray(0, Math.floor(data.length / 2)));
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/qvm-backup-restore: error: (Premature end of backup archive|Missing chunk|The backup is incomplete)/);
  expect(h.files().filter((f) => f.endsWith('.img'))).toEqual([]);
});

test("member names with '..', an absolute path, outside the layout, without .enc", async () => {
  const id = /backup-id=(.*)/.exec((good[0] as Member).data.toString())?.[1] as string;
  // validly encrypted under their own names, so only the name checks can refuse them
  const forged = async (name: string) => ({ name, data: await encryptBuffer(chunkPassword(id, name.replace(/\.enc$/, ''), PASS), Buffer.from('x'), { logN: 10, r: 8, p: 1 }) });
  const at = idx(good, chunk(0));
  for (const [name, msg] of [
    [`${work}../../etc/passwd.000.enc`, /Refusing archive member with '\.\.'/],
    ['/etc/evil.000.enc', /Refusing archive member with an absolute path: \/etc\/evil\.000\.enc/],
    ['vm999/private.img.000.enc', /Unexpected file in archive: vm999\/private\.img is outside the layout of this backup/],
    [`${work}private.img.000`, /Invalid file extension found in archive/],
  ] as const) {
    const bad = [...good];
    bad.splice(at, 0, await forged(name));
    expectRefused(bad, msg);
  }
});

test('authenticated chunks with a damaged inner archive (made with the right key): refused, no hang', async () => {
  const id = /backup-id=(.*)/.exec((good[0] as Member).data.toString())?.[1] as string;
  const bad = [...good];
  const i = idx(good, chunk(0));
  const garbage = Buffer.alloc(64 * 1024, 0x5a);
  bad[i] = { name: chunk(0), data: await encryptBuffer(chunkPassword(id, chunk(0).replace(/\.enc$/, ''), PASS), garbage, { logN: 10, r: 8, p: 1 }) };
  expectRefused(bad, /inner archive of .*private\.img: decompression failed/);
});

test("dom0's home cut short while GNU tar extracts it: one line, no stack trace", () => {
  const home = withHome.filter((m) => m.name.startsWith('dom0-home/'));
  expect(home.length).toBeGreaterThanOrEqual(3);
  expectRefused(withHome.filter((m) => m !== home.at(-1)), /Missing chunk in archive: dom0-home\/user\.\d{3}\.enc/);
});

test('a member header whose checksum field is not a number', () => {
  const h = freshHost();
  const file = path.join(h.dir, 'bad-checksum');
  writeMembers(file, good);
  const data = fs.readFileSync(file);
  // the ustar header of the third member (qubes.xml.000.enc), after its pax header block and records
  const at = data.indexOf(Buffer.from('qubes.xml.000.enc\0'), data.indexOf('PaxHeaders/qubes.xml.000.enc') + 512);
  data.write('@', at + 148, 'latin1');
  const bad = path.join(h.dir, 'bad');
  fs.writeFileSync(bad, data);
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), bad);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/\nqvm-backup-restore: error: backup archive: invalid tar header at offset \d+\n$/);
});
