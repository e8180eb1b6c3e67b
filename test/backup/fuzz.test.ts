/**
 * Fuzzing the restore with mutated backups (format 4 made by our writer,
 * format 3 from the reference vectors with forged small files): bit flips,
 * truncations, member reorders, drops and duplicates, and members crafted
 * with the known passphrase (inner archives of every hostile shape, extra
 * and renamed chunks, hostile qubes.xml). Each case is restored or
 * verified into a fresh host under a time limit and must end within it,
 * either refused (one line, a QubesError, nothing changed in the host) or
 * restored exactly as the archive authenticates (the expected qubes, each
 * image as made); nothing may be written outside the host, and every store
 * afterwards parses with ours and with lxml.
 *
 * Most cases run through the built library in two worker threads (a
 * watchdog cancels a case at its limit; a worker that does not answer is a
 * failure); every EXEC_EVERY-th runs the built qvm-backup-restore instead
 * (one stderr line, no stack trace). QUBES_FUZZ_SEED picks the cases (the
 * seed is printed), QUBES_FUZZ_CASES their number; the source backups are
 * made anew each run (random salts and backup-id), so a seed names the
 * mutations and their positions, not the exact bytes. The hosts live on
 * tmpfs (/dev/shm, or QUBES_FUZZ_DIR) where there is one: a restore
 * fsyncs every file it makes, which on a disk is most of its time.
 */
import crypto, { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { outerMember } from '../../lib/backup/tar-writer.js';
import { ROOT, vector } from '../helpers.js';
import { freshHost, passFile, readMembers, sha256, writeAt, type Member } from './backup-env.js';
import { backupId, tarOf, untar, v3Decode, v3File, v3Replace, v4Chunk, v4QubesXml, v4Replace, v4WithQubesXml, type TarItem } from './forge.js';
import { rng, type Rng } from '../fuzz-rng.js';

const SEED = Number(process.env.QUBES_FUZZ_SEED ?? 20260111);
const CASES = Number(process.env.QUBES_FUZZ_CASES ?? 1000);
/** Every EXEC_EVERY-th case runs the executable (the others the library in a worker). */
const EXEC_EVERY = 8;
const LIMIT_MS = { library: 10_000, exec: 20_000 };
const WORKERS = 2;


interface Expect {
  qubes: string[];
  /** `qube/volume` → sha256 of the image a successful restore must make. */
  images: Record<string, string>;
}

/** A file of a source backup that the restore reads, and how to forge it. */
interface SourceFile {
  base: string;
  /** The member name the inner archive must hold (format 3 directory archives: the directory). */
  inner: string;
  kind: 'volume' | 'small' | 'directory' | 'home';
  /** `qube/volume` of a volume. */
  key?: string;
}

interface Source {
  name: string;
  format: 3 | 4;
  pass: string;
  members: Member[];
  files: SourceFile[];
  only: string[];
  expect: Expect;
  /** The file `base` replaced by one holding `inner`, authenticated as the source's writer would. */
  replace(members: Member[], base: string, inner: Buffer): Promise<Member[]>;
  /** A member `name` holding `data`, authenticated under that name (format 3: with its .hmac). */
  forge(members: Member[], name: string, data: Buffer): Promise<Member[]>;
  /** The qubes.xml text and a way to put another one in. */
  xml: string;
  withXml(members: Member[], xml: string): Promise<Member[]>;
}

let work: string;
let hostTemplate: string;
const sources: Source[] = [];

/** A format 4 backup by our qvm-backup: a template (root, private), an AppVM (private, firewall, notes), dom0's home; 32 KiB chunks. */
async function v4Source(compress: boolean): Promise<Source> {
  const pass = 'fuzz pass';
  const h = freshHost({ QUBES_BACKUP_SCRYPT_LOGN: '10', QUBES_BACKUP_CHUNK_SIZE: String(32 * 1024) });
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  h.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  for (const [vm, vol, size, data] of [['tpl', 'root', 512, 40], ['tpl', 'private', 128, 8], ['work', 'private', 256, 48]] as const) {
    fs.truncateSync(h.img(vm, vol), size * 1024);
    writeAt(h.img(vm, vol), 4096, randomBytes(data * 1024));
  }
  h.ok('qvm-firewall', 'work', 'add', 'drop', 'dsthost=example.com');
  fs.writeFileSync(path.join(h.dir, 'appvms/work/notes.txt'), 'notes\n');
  fs.writeFileSync(path.join(h.home, 'file.txt'), 'home file\n');
  const file = path.join(h.dir, 'backup');
  h.ok('qvm-backup', '-y', '-q', ...(compress ? [] : ['--no-compress']), '-p', passFile(h.dir, pass), file, 'tpl', 'work', 'dom0');
  const members = await readMembers(file);
  const pathOf = (vm: string) => (members.find((m) => new RegExp(`^vm\\d+/${vm === 'tpl' ? 'root' : 'notes'}\\.`).test(m.name))?.name ?? '').replace(/[^/]+$/, '');
  const [t, w] = [pathOf('tpl'), pathOf('work')];
  const xml = await v4QubesXml(members, pass, compress);
  return {
    name: `format 4 (${compress ? 'gzip' : 'uncompressed'})`,
    format: 4,
    pass,
    members,
    files: [
      { base: `${t}root.img`, inner: `${t}root.img`, kind: 'volume', key: 'tpl/root' },
      { base: `${t}private.img`, inner: `${t}private.img`, kind: 'volume', key: 'tpl/private' },
      { base: `${w}private.img`, inner: `${w}private.img`, kind: 'volume', key: 'work/private' },
      { base: `${w}firewall.xml`, inner: `${w}firewall.xml`, kind: 'small' },
      { base: `${w}notes.txt`, inner: `${w}notes.txt`, kind: 'small' },
      { base: 'dom0-home/user', inner: 'dom0-home/user', kind: 'home' },
    ],
    only: [],
    expect: { qubes: ['tpl', 'work'], images: { 'tpl/root': sha256(h.img('tpl', 'root')), 'tpl/private': sha256(h.img('tpl', 'private')), 'work/private': sha256(h.img('work', 'private')) } },
    replace: (ms, base, inner) => v4Replace(ms, base, inner, pass, compress),
    forge: async (ms, name, data) => [...ms, await v4Chunk(backupId(ms), name, data, pass)],
    xml,
    withXml: (ms, x) => v4WithQubesXml(ms, pass, x, compress),
  };
}

/** A format 3 vector (its qubes.xml and the files of three qubes), the template's directory archive forged small; those qubes restored. */
async function v3Source(kind: 'plain-gzip' | 'encrypted-gzip'): Promise<Source> {
  const pass = 'qubes';
  const enc = kind === 'encrypted-gzip' ? pass : undefined;
  const [tpl, app, sa] = enc ? ['vm9', 'vm10', 'vm11'] : ['vm-templates/test-template-clone', 'appvms/test-custom-template-appvm', 'appvms/test-standalonevm'];
  const image = randomBytes(8192);
  const dir: TarItem[] = [
    { name: `${tpl}/./`, type: '5' },
    { name: `${tpl}/./icon.png`, type: '2', linkname: '/usr/share/qubes/icons/green.png' },
    { name: `${tpl}/./root.img`, data: image },
    { name: `${tpl}/./private.img`, data: image },
  ];
  // only the files of the three qubes (the others are not selected, and would only be skipped): smaller cases
  const kept = (m: Member) => !/^(appvms|vm-templates|servicevms|vm\d+|dom0-home)\//.test(m.name) || [tpl, app, sa].some((p) => m.name.startsWith(`${p}/`));
  const members = v3Replace((await readMembers(vector(`backup-v3/${kind}/backup.bin`))).filter(kept), `${tpl}/.`, tarOf(dir), pass, enc);
  const xmlMember = members.find((m) => m.name === 'qubes.xml.000') as Member;
  const xml = ((await untar(v3Decode(xmlMember.data, enc), false)).get('qubes.xml') as Buffer).toString('utf8');
  const digests = JSON.parse(fs.readFileSync(vector(`backup-v3/${kind}/digests.json`), 'utf8')) as Record<string, { sha256: string }>;
  const d = (p: string) => (digests[p] as { sha256: string }).sha256;
  const imageSha = crypto.createHash('sha256').update(image).digest('hex');
  return {
    name: `format 3 (${kind})`,
    format: 3,
    pass,
    members,
    files: [
      { base: `${tpl}/.`, inner: `${tpl}/.`, kind: 'directory' },
      { base: `${app}/private.img`, inner: `${app}/private.img`, kind: 'volume', key: 'test-custom-template-appvm/private' },
      { base: `${app}/firewall.xml`, inner: `${app}/firewall.xml`, kind: 'small' },
      { base: `${sa}/root.img`, inner: `${sa}/root.img`, kind: 'volume', key: 'test-standalonevm/root' },
      { base: `${sa}/private.img`, inner: `${sa}/private.img`, kind: 'volume', key: 'test-standalonevm/private' },
    ],
    only: ['test-template-clone', 'test-custom-template-appvm', 'test-standalonevm'],
    expect: {
      qubes: ['test-template-clone', 'test-custom-template-appvm', 'test-standalonevm'],
      images: {
        'test-template-clone/root': imageSha,
        'test-template-clone/private': imageSha,
        'test-custom-template-appvm/private': d('appvms/test-custom-template-appvm/private.img'),
        'test-standalonevm/root': d('appvms/test-standalonevm/root.img'),
        'test-standalonevm/private': d('appvms/test-standalonevm/private.img'),
      },
    },
    replace: async (ms, base, inner) => v3Replace(ms, base, inner, pass, enc),
    forge: async (ms, name, data) => [...ms, ...v3File(name.replace(/\.\d{3,}$/, ''), data, pass, enc).map((m) => ({ ...m, name: m.name.replace(/\.000/, name.slice(name.lastIndexOf('.'))) }))],
    xml,
    withXml: async (ms, x) => v3Replace(ms, 'qubes.xml', tarOf([{ name: 'qubes.xml', data: Buffer.from(x) }]), pass, enc),
  };
}

interface Case {
  id: number;
  what: string;
  source: Source;
  bytes: Buffer;
  verifyOnly: boolean;
  expect: Expect;
}

const serialize = (ms: Member[]) => Buffer.concat(ms.map((m) => outerMember(m.name, m.data, 0)));

/** Inner archives of every hostile shape for a file (and one valid replacement of a volume). */
function innerShapes(r: Rng, f: SourceFile): { what: string; inner: Buffer; image?: Buffer }[] {
  const data = r.bytes(1 + r.int(4096));
  const n = f.inner;
  const under = f.kind === 'directory' ? `${n}/` : f.kind === 'home' ? `${n}/` : '';
  const shapes: { what: string; inner: Buffer; image?: Buffer }[] = [
    { what: 'empty archive', inner: tarOf([]) },
    { what: 'no end blocks', inner: tarOf([{ name: n, data }]).subarray(0, 512 + data.length) },
    { what: 'another name', inner: tarOf([{ name: `${n}x`, data }]) },
    { what: "a '../' member", inner: tarOf([{ name: `${under || `${n}/`}../../../../escaped`, data }]) },
    { what: 'an absolute member', inner: tarOf([{ name: `/tmp/escaped-${r.int(1e9)}`, data }]) },
    { what: 'a symlink', inner: tarOf([{ name: under ? `${under}link` : n, type: '2', linkname: '/etc/shadow' }, ...(under ? [{ name: `${under}link/escaped`, data }] : [])]) },
    { what: 'a hard link', inner: tarOf([{ name: under ? `${under}hard` : n, type: '1', linkname: '/etc/shadow' }]) },
    { what: 'a character device', inner: tarOf([{ name: under ? `${under}dev` : n, type: '3' }]) },
    { what: 'a directory', inner: tarOf([{ name: `${n}/`, type: '5' }]) },
    { what: 'an extra member', inner: tarOf([{ name: n, data }, { name: `${n}.extra`, data }]) },
    { what: 'the member twice', inner: tarOf([{ name: n, data }, { name: n, data }]) },
    { what: 'garbage', inner: r.bytes(1 + r.int(20000)) },
    { what: 'a member cut short', inner: tarOf([{ name: n, data: Buffer.alloc(100_000, 1) }]).subarray(0, 512 + 1000) },
  ];
  if (f.kind === 'volume') {
    const image = r.bytes(512 * (1 + r.int(64)));
    shapes.push({ what: 'new valid content', inner: tarOf([{ name: n, data: image }]), image });
  }
  return shapes;
}

/** Hostile edits of the backup's qubes.xml (none of them may produce an unreadable store). */
function xmlEdits(s: Source): { what: string; edit: (x: string) => string }[] {
  const v4 = [
    { what: 'feature value &#2;', edit: (x: string) => x.replace(/<features>/, '<features>\n<feature name="evil">a&#2;b</feature>') },
    { what: 'raw control byte', edit: (x: string) => x.replace(/<features>/, '<features>\n<feature name="evil">a\u0001b</feature>') },
    { what: 'bad feature name', edit: (x: string) => x.replace(/<features>/, '<features>\n<feature name="a b/c">1</feature>') },
    { what: 'bad tag', edit: (x: string) => x.replace(/<tags>|<tags\/>/, '<tags><tag name="no good"/>') },
    { what: 'unknown class', edit: (x: string) => x.replace(/class="AppVM"/, 'class="EvilVM"') },
    { what: 'no dom0', edit: (x: string) => x.replace(/<domain [^>]*class="AdminVM"[\s\S]*?<\/domain>/, '') },
    { what: "backup-path '../'", edit: (x: string) => x.replace(/(<feature name="backup-path">)vm\d+\//, '$1../../') },
    { what: 'backup-path of another qube', edit: (x: string) => x.replace(/(<feature name="backup-path">)(vm\d+\/)([\s\S]*?<feature name="backup-path">)vm\d+\//, '$1$2$3$2') },
    { what: 'invalid UTF-8', edit: (x: string) => x.replace('<labels>', '<labels>\u00ff') },
    { what: 'truncated', edit: (x: string) => x.slice(0, x.length >> 1) },
    { what: 'entity bomb', edit: (x: string) => `<!DOCTYPE q [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>${x}` },
  ];
  const v3 = [
    { what: 'service with a slash', edit: (x: string) => x.replace(/services="\{/, `services="{'a/b': True, `) },
    { what: 'service with &#1;', edit: (x: string) => x.replace(/services="\{/, `services="{'a&#1;b': True, `) },
    { what: 'pcidevs with a control character', edit: (x: string) => x.replace(/pcidevs="\[\]"/, `pcidevs="['00:0&#2;.0']"`) },
    { what: 'backup_path with ..', edit: (x: string) => x.replace(/backup_path="[^"]*"/, 'backup_path="../../etc"') },
    { what: 'truncated', edit: (x: string) => x.slice(0, x.length >> 1) },
    { what: 'not R3', edit: (x: string) => x.replace('QubesVmCollection', 'Qubes') },
  ];
  return s.format === 4 ? v4 : v3;
}

/** One mutated backup. */
async function makeCase(id: number, r: Rng): Promise<Case> {
  const s = r.pick(sources);
  const verifyOnly = r.next() < 0.25;
  const base = { id, source: s, verifyOnly, expect: s.expect };
  let ms = s.members;
  const roll = r.next();
  if (roll < 0.3) {
    const bytes = serialize(ms);
    const flips: number[] = [];
    for (let k = 1 + r.int(3); k > 0; k--) {
      // half anywhere, half in the first 2 KiB of a member (headers, scrypt/openssl headers)
      let at = r.int(bytes.length);
      if (r.next() < 0.5) {
        const i = r.int(ms.length);
        at = serialize(ms.slice(0, i)).length + r.int(Math.min(2048, serialize([ms[i] as Member]).length));
      }
      bytes[at] = (bytes[at] as number) ^ (1 << r.int(8));
      flips.push(at);
    }
    return { ...base, what: `bit flips at ${flips.join(',')}`, bytes };
  }
  if (roll < 0.45) {
    const bytes = serialize(ms);
    const at = r.next() < 0.5 ? r.int(bytes.length) : serialize(ms.slice(0, r.int(ms.length))).length + r.int(3) * 512;
    return { ...base, what: `truncated at ${at}`, bytes: bytes.subarray(0, at) };
  }
  if (roll < 0.6) {
    ms = [...ms];
    const i = 2 + r.int(ms.length - 2);
    const j = 2 + r.int(ms.length - 2);
    const op = r.pick(['swap', 'move', 'duplicate', 'drop', 'swap with header']);
    if (op === 'swap') [ms[i], ms[j]] = [ms[j] as Member, ms[i] as Member];
    else if (op === 'move') ms.splice(j, 0, ...ms.splice(i, 1));
    else if (op === 'duplicate') ms.splice(j, 0, ms[i] as Member);
    else if (op === 'drop') ms.splice(i, 1);
    else [ms[0], ms[i]] = [ms[i] as Member, ms[0] as Member];
    return { ...base, what: `${op} members ${i} ${j}`, bytes: serialize(ms) };
  }
  if (roll < 0.8) {
    const f = r.pick(s.files);
    const shape = r.pick(innerShapes(r, f));
    ms = await s.replace(ms, f.base, shape.inner);
    const expect = shape.image && f.key ? { ...s.expect, images: { ...s.expect.images, [f.key]: crypto.createHash('sha256').update(shape.image).digest('hex') } } : s.expect;
    return { ...base, expect, what: `${f.base}: ${shape.what}`, bytes: serialize(ms) };
  }
  if (roll < 0.9) {
    const f = r.pick(s.files);
    const suffix = s.format === 4 ? '.enc' : '';
    const names = [
      `${f.base}.${String(1 + r.int(3)).padStart(3, '0')}${suffix}`,
      `${f.base.replace(/[^/]*$/, '')}evil.img.000${suffix}`,
      `vm999/private.img.000${suffix}`,
      `${f.base}.000.hmac`,
      `qubes.xml.001${suffix}`,
    ];
    const name = r.pick(names);
    const data = s.format === 4 ? r.bytes(r.int(4096)) : tarOf([{ name: f.inner, data: r.bytes(100) }]);
    ms = await s.forge(ms, name, data);
    if (r.next() < 0.5) {
      // not at the end: right after the file it claims to belong to
      const added = ms.splice(s.members.length);
      const at = ms.findIndex((m) => m.name.startsWith(f.base)) + 1;
      ms.splice(at, 0, ...added);
    }
    return { ...base, what: `forged member ${name}`, bytes: serialize(ms) };
  }
  const e = r.pick(xmlEdits(s));
  return { ...base, what: `qubes.xml: ${e.what}`, bytes: serialize(await s.withXml(ms, e.edit(s.xml))) };
}

interface Result {
  id: number;
  outcome: 'refused' | 'restored' | 'verified' | 'crashed' | 'timeout';
  message?: string;
  problems: string[];
  elapsed: number;
}

beforeAll(async () => {
  // on tmpfs where there is one: a restore fsyncs every image and directory, which is what costs on a disk
  work = fs.mkdtempSync(path.join(process.env.QUBES_FUZZ_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()), 'qubes-fuzz-'));
  const template = freshHost();
  hostTemplate = path.join(work, 'host-template');
  fs.cpSync(template.dir, hostTemplate, { recursive: true });
  fs.writeFileSync(path.join(hostTemplate, 'qubes.xml'), template.xml().replaceAll(template.dir, hostTemplate));
  for (const f of fs.readdirSync(hostTemplate)) if (f.startsWith('pass-')) fs.rmSync(path.join(hostTemplate, f));
  sources.push(await v4Source(true), await v4Source(false), await v3Source('plain-gzip'), await v3Source('encrypted-gzip'));
}, 120_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test(`${CASES} mutated backups: each refused with one line or restored as authenticated, within its limit, nothing outside the host`, async () => {
  console.log(`fuzz seed ${SEED} (QUBES_FUZZ_SEED), ${CASES} cases`);
  const r = rng(SEED);
  const storesDir = path.join(work, 'stores');
  fs.mkdirSync(storesDir);
  const outsideBefore = fs.readdirSync(work).sort();
  const results: Result[] = [];
  const cases = new Map<number, Case>();
  let nextId = 0;

  /** One worker thread running cases until none is left; one that does not answer in time is replaced. */
  const worker = () =>
    new Promise<void>((resolve, reject) => {
      let w: Worker;
      let timer: NodeJS.Timeout | undefined;
      const done = (id: number) => {
        fs.rmSync(path.join(work, `case-${id}.bin`), { force: true });
        fs.rmSync(path.join(work, `c${id}`), { recursive: true, force: true });
      };
      const next = async () => {
        if (nextId >= CASES) {
          await w.terminate();
          return resolve();
        }
        const id = nextId++;
        const c = await makeCase(id, r);
        cases.set(id, c);
        const file = path.join(work, `case-${id}.bin`);
        fs.writeFileSync(file, c.bytes);
        const exec = id % EXEC_EVERY === EXEC_EVERY - 1;
        const limitMs = exec ? LIMIT_MS.exec : LIMIT_MS.library;
        // the worker's own watchdog cannot run if the restore never yields: this one can
        timer = setTimeout(() => {
          results.push({ id, outcome: 'timeout', problems: [`no answer within ${limitMs + 10_000} ms`], elapsed: limitMs + 10_000 });
          done(id);
          void w.terminate();
          start();
        }, limitMs + 10_000);
        w.postMessage({ id, file, exec, bin: path.join(ROOT, 'bin', 'qvm-backup-restore'), pass: c.source.pass, verifyOnly: c.verifyOnly, only: c.source.only, expect: c.expect, limitMs, caseDir: path.join(work, `c${id}`), storesDir });
      };
      const start = () => {
        w = new Worker(new URL('./fuzz-worker.mjs', import.meta.url), { workerData: { hostTemplate } });
        live.add(w);
        w.on('exit', () => live.delete(w));
        w.on('message', (m: Result & { ready?: boolean }) => {
          if (!m.ready) {
            clearTimeout(timer);
            results.push(m);
            done(m.id);
          }
          next().catch(reject);
        });
        w.on('error', reject);
      };
      start();
    });
  const live = new Set<Worker>();
  try {
    await Promise.all(Array.from({ length: WORKERS }, worker));
  } finally {
    // after a failure the other worker must not keep the test process alive
    await Promise.all([...live].map((x) => x.terminate()));
  }

  const count = (o: string) => results.filter((x) => x.outcome === o).length;
  const exec = results.filter((x) => x.id % EXEC_EVERY === EXEC_EVERY - 1).length;
  console.log(
    `fuzz seed ${SEED}: ${results.length} cases (${exec} through bin/qvm-backup-restore, ${results.length - exec} through the library): ` +
      `${count('refused')} refused, ${count('restored')} restored, ${count('verified')} verified; slowest ${Math.max(...results.map((x) => x.elapsed))} ms, ` +
      `mean ${Math.round(results.reduce((a, x) => a + x.elapsed, 0) / results.length)} ms`,
  );
  const bad = results.filter((x) => x.problems.length);
  const describe = (x: Result) => {
    const c = cases.get(x.id) as Case;
    return `case ${x.id} (${c.source.name}, ${c.verifyOnly ? 'verify-only' : 'restore'}, ${c.what}): ${x.problems.join('; ')}${x.message ? ` [${x.message}]` : ''}`;
  };
  expect(bad.map(describe)).toEqual([]);
  expect(results).toHaveLength(CASES);
  // nothing left beside the hosts and case files (each removed after its case), no file written into the work directory
  expect(fs.readdirSync(work).sort()).toEqual(outsideBefore);
  // every store afterwards parses with lxml (one python for all of them)
  const py = spawnSync(
    fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
    ['-c', 'import lxml.etree,sys,os\nfor f in sorted(os.listdir(sys.argv[1])):\n  try: lxml.etree.parse(os.path.join(sys.argv[1], f))\n  except Exception as e: print(f, e)', storesDir],
    { encoding: 'utf8' },
  );
  expect(py.status).toBe(0);
  expect(py.stdout).toBe('');
  expect(fs.readdirSync(storesDir)).toHaveLength(CASES);
}, 600_000);
