/**
 * Restoring the reference's backups (format 4 made by qubes-core-admin,
 * format 3 by the R2/R3 writer) into fresh stores: every restored image
 * has the recorded sha256 and size; properties, features and tags as in
 * the source store (format 3: converted as the reference converts R3.2).
 *
 * The tests run side by side, their restores two at a time: the format 4
 * vectors derive a key per file at the reference's N = 2^20 (seconds of
 * one core each, fixed by the vectors), and jest runs this file alone on
 * CI's two cores. Each restore has its own host; two at once need
 * 2 × 1.2 GiB.
 */
import fs from 'node:fs';
import path from 'node:path';
import { slots, vector } from '../helpers.js';
import { domainFacts, domains, freshHost, passFile, sha256, type Host } from './backup-env.js';

interface Digest {
  sha256: string;
  size: number;
}
const digests = (dir: string): Record<string, Digest> => JSON.parse(fs.readFileSync(vector(`${dir}/digests.json`), 'utf8')) as Record<string, Digest>;

const restoreSlot = slots(2);
/** Each test's limit, counted from the start of the file: it includes the wait for a slot. */
const LIMIT_MS = 900_000;
/** qvm-backup-restore with these arguments in the host, in its turn. */
const restore = (h: Host, ...args: string[]) => restoreSlot(() => h.qAsync('qvm-backup-restore', ...args));

function expectImage(file: string, d: Digest): void {
  expect(fs.statSync(file).size).toBe(d.size);
  expect(sha256(file)).toBe(d.sha256);
}

/** Only the dom0 of qubes-create, nothing else: the store and the disk are as before. */
function expectUntouched(h: Host, before: string): void {
  expect(h.xml()).toBe(before);
  expect(h.files().filter((f) => f.endsWith('.img'))).toEqual([]);
}

describe.each([
  ['backup-v4/gzip', 'correct horse battery staple'],
  ['backup-v4/uncompressed', 's3cret pass'],
])('format 4 vector %s', (dir, pass) => {
  test.concurrent('restores every image, property, feature and tag', async () => {
    const h = freshHost();
    const r = await restore(h, '-p', passFile(h.dir, pass), vector(`${dir}/backup.bin`));
    expect(r.stderr).toContain('qubesadmin.backup: -> Done.');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(' work |        AppVM | debian-12 |         - |  blue |');
    for (const [key, d] of Object.entries(digests(dir))) {
      const [vm, vol] = key.split('/') as [string, string];
      expectImage(h.img(vm, vol), d);
    }
    const src = domains(fs.readFileSync(vector(`${dir}/source-qubes.xml`), 'utf8'));
    const got = domains(h.xml());
    for (const [name, el] of src) {
      if (name === 'dom0') continue;
      const s = domainFacts(el);
      const g = domainFacts(got.get(name) as never);
      expect(g.klass).toBe(s.klass);
      // identity is new on the host; backup_timestamp was set on the source after the backup
      for (const k of ['qid', 'uuid', 'backup_timestamp']) s.props.delete(k), g.props.delete(k);
      expect(Object.fromEntries(g.props)).toEqual(Object.fromEntries(s.props));
      expect(Object.fromEntries(g.features)).toEqual(Object.fromEntries(s.features));
      expect(g.tags.filter((t) => t !== 'created-by-dom0').sort()).toEqual([...s.tags].sort());
    }
  }, LIMIT_MS);
});

test.concurrent('format 4 --verify-only reads everything and changes nothing', async () => {
  const h = freshHost();
  const before = h.xml();
  const r = await restore(h, '--verify-only', '-p', passFile(h.dir, 'correct horse battery staple'), vector('backup-v4/gzip/backup.bin'));
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('qubesadmin.backup: -> Verifying work...');
  expect(r.stderr).toContain('app: The above VM archive(s) will be verified.');
  expectUntouched(h, before);
}, LIMIT_MS);

describe.each(['encrypted-gzip', 'plain-gzip'])('format 3 vector %s', (kind) => {
  test.concurrent('restores private and root images, converts the R3.2 qubes, restores dom0 home', async () => {
    const h = freshHost();
    h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'fedora-20-x64');
    const r = await restore(h, '--ignore-missing', '-p', passFile(h.dir, 'qubes'), vector(`backup-v3/${kind}/backup.bin`));
    expect(r.stderr).toContain('-> Done.');
    expect(r.code).toBe(0);
    const d = digests(`backup-v3/${kind}`);
    const where: Record<string, string> = {
      'test-work': 'appvms/test-work',
      'test-template-clone': 'vm-templates/test-template-clone',
      'test-custom-template-appvm': 'appvms/test-custom-template-appvm',
      'test-standalonevm': 'appvms/test-standalonevm',
      'test-testproxy': 'servicevms/test-testproxy',
      'test-testhvm': 'appvms/test-testhvm',
      'test-net': 'servicevms/test-net',
    };
    for (const [vm, src] of Object.entries(where)) {
      expectImage(h.img(vm, 'private'), d[`${src}/private.img`] as Digest);
      const root = d[`${src}/root.img`];
      if (['test-template-clone', 'test-standalonevm', 'test-testhvm'].includes(vm)) expectImage(h.img(vm, 'root'), root as Digest);
    }
    const got = domains(h.xml());
    const f = (n: string) => domainFacts(got.get(n) as never);
    expect(f('test-work')).toMatchObject({ klass: 'AppVM' });
    expect(Object.fromEntries(f('test-work').props)).toMatchObject({ label: 'green', template: 'fedora-20-x64', memory: '400', maxmem: '1535', vcpus: '2' });
    expect(f('test-custom-template-appvm').props.get('template')).toBe('test-template-clone');
    expect(f('test-template-clone').klass).toBe('TemplateVM');
    expect(f('test-standalonevm').klass).toBe('StandaloneVM');
    expect(f('test-testhvm').klass).toBe('StandaloneVM');
    expect(f('test-testhvm').props.get('virt_mode')).toBe('hvm');
    expect(f('test-net').props.get('provides_network')).toBe('True');
    expect(f('test-net').props.get('netvm')).toBe('');
    expect(f('test-net').props.get('maxmem')).toBe('0'); // meminfo-writer off
    expect(f('test-net').features.get('service.ntpd')).toBe('');
    // the missing netvm (firewallvm) was dropped for the default
    expect(f('test-testproxy').props.has('netvm')).toBe(false);
    expect(f('test-work').features.get('menu-items')).toContain('firefox.desktop');
    // firewall.xml (R3.2 format) converted into the qube's directory
    expect(fs.readFileSync(path.join(h.dir, 'appvms/test-work/firewall.xml'), 'utf8')).toContain('<firewall version="2">');
    const restored = fs.readdirSync(h.home).filter((n) => n.startsWith('home-restore-'));
    expect(restored).toHaveLength(1);
    expect(fs.statSync(path.join(h.home, restored[0] as string, 'dom0-home/user/Pictures/another-file.png')).size).toBe(12);
  }, LIMIT_MS);
});

test.concurrent('format 3 --verify-only needs nothing on the host (no template) and changes nothing', async () => {
  const h = freshHost();
  const before = h.xml();
  const r = await restore(h, '--verify-only', '-p', passFile(h.dir, 'qubes'), vector('backup-v3/encrypted-gzip/backup.bin'));
  expect(r.stderr).toContain('-> Verifying test-work...');
  expect(r.code).toBe(0);
  expectUntouched(h, before);
  expect(fs.readdirSync(h.home)).toEqual([]);
  const wrong = await restore(h, '--verify-only', '-p', passFile(h.dir, 'qubez'), vector('backup-v3/encrypted-gzip/backup.bin'));
  expect(wrong).toMatchObject({ code: 1, stderr: 'app: Checking backup content...\nqvm-backup-restore: error: Corrupted backup header (hmac verification failed). Is the password correct?\n' });
}, LIMIT_MS);
