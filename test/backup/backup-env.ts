/**
 * Backup test helpers: fresh stores made by qubes-create (pools in the
 * temporary directory), qubes with images of chosen content, the built
 * qvm-backup / qvm-backup-restore, and reading or rewriting the members of
 * an outer archive (to damage backups on purpose).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ByteSource } from '../../lib/backup/byte-source.js';
import { TarReader } from '../../lib/backup/tar-reader.js';
import { outerMember } from '../../lib/backup/tar-writer.js';
import { parseXml, type XmlElement } from '../../lib/util/xml-reader.js';
import { ROOT, run, runAsync, tmpDir, type RunResult } from '../helpers.js';
import { sha256 } from '../storage/storage-env.js';

export { sha256 };
export const MiB = 1024 * 1024;

export interface Host {
  dir: string;
  env: NodeJS.ProcessEnv;
  home: string;
  q(cmd: string, ...args: string[]): RunResult;
  /** `q` without blocking: for commands run side by side. */
  qAsync(cmd: string, ...args: string[]): Promise<RunResult>;
  ok(cmd: string, ...args: string[]): string;
  img(vm: string, volume: string): string;
  xml(): string;
  /** Every file and directory (with a trailing '/') under the store directory (images, leftovers), relative. */
  files(): string[];
}

/** A fresh store (qubes-create) in a temporary directory, removed after the test file; KDF cost lowered for speed. */
export function freshHost(extraEnv: NodeJS.ProcessEnv = {}): Host {
  // images of several hundred MiB: removed when the test file ends
  const dir = tmpDir('qubes-backup-test-');
  const home = path.join(dir, 'home', 'user');
  fs.mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    QUBES_XML_PATH: path.join(dir, 'qubes.xml'),
    QUBES_BASE_DIR: dir,
    QUBES_OFFLINE_MODE: '1',
    QUBES_RUN_DIR: path.join(dir, 'run'),
    QUBES_DOM0_HOME: home,
    QUBES_DOM0_USER: 'user',
    QUBES_BACKUP_SCRYPT_LOGN: '14',
    QUBES_BACKUP_PROFILE_DIR: path.join(dir, 'profiles'),
    NO_COLOR: '1',
    ...extraEnv,
  };
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  ok('qubes-create');
  const walk = (d: string, rel = ''): string[] =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? [`${path.join(rel, e.name)}/`, ...walk(path.join(d, e.name), path.join(rel, e.name))] : [path.join(rel, e.name)]));
  return {
    dir,
    env,
    home,
    q,
    qAsync: (cmd, ...args) => runAsync(cmd, args, env, ''),
    ok,
    img: (vm, volume) => {
      const t = path.join(dir, 'vm-templates', vm, `${volume}.img`);
      return fs.existsSync(t) ? t : path.join(dir, 'appvms', vm, `${volume}.img`);
    },
    xml: () => fs.readFileSync(path.join(dir, 'qubes.xml'), 'utf8'),
    files: () => walk(dir).filter((f) => !f.startsWith('home') && !f.startsWith('run')).sort(),
  };
}

/** Write `data` at `offset` of a file (creating holes before it). */
export function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, data, 0, data.length, offset);
  fs.closeSync(fd);
}

export const passFile = (dir: string, pass: string): string => {
  const f = path.join(dir, `pass-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(f, `${pass}\n`);
  return f;
};

export interface Member {
  name: string;
  data: Buffer;
}

/** The members of an outer archive (zero blocks between archives skipped). */
export async function readMembers(file: string): Promise<Member[]> {
  const r = new TarReader(new ByteSource(fs.createReadStream(file)), { ignoreZeros: true, what: file });
  const out: Member[] = [];
  for (let e; (e = await r.next()); ) out.push({ name: e.name, data: await r.readBody(200 * MiB) });
  return out;
}

/** An outer archive of these members, in this order. */
export function writeMembers(file: string, members: Member[]): void {
  fs.writeFileSync(file, Buffer.concat(members.map((m) => outerMember(m.name, m.data, Date.now()))));
}

/** The single backup file in a directory. */
export function backupIn(dir: string): string {
  const f = fs.readdirSync(dir).filter((n) => n.startsWith('qubes-'));
  if (f.length !== 1) throw new Error(`expected one backup in ${dir}, found ${f.join(', ')}`);
  return path.join(dir, f[0] as string);
}

/** `<domain>` elements of a store by qube name (dom0 as 'dom0'). */
export function domains(xmlText: string): Map<string, XmlElement> {
  const root = parseXml(xmlText);
  const doms = root.children.find((c) => c.name === 'domains')?.children ?? [];
  const out = new Map<string, XmlElement>();
  for (const d of doms) {
    const props = d.children.find((c) => c.name === 'properties')?.children ?? [];
    const name = props.find((p) => p.attrs.some(([k, v]) => k === 'name' && v === 'name'))?.text ?? 'dom0';
    out.set(name, d);
  }
  return out;
}

const attr = (el: XmlElement, k: string) => el.attrs.find(([n]) => n === k)?.[1];

/** Properties, features and tags of a `<domain>`. */
export function domainFacts(d: XmlElement): { klass: string; props: Map<string, string>; features: Map<string, string>; tags: string[] } {
  const kids = (n: string) => d.children.find((c) => c.name === n)?.children ?? [];
  return {
    klass: attr(d, 'class') ?? '',
    props: new Map(kids('properties').map((p) => [attr(p, 'name') ?? '', p.text])),
    features: new Map(kids('features').map((p) => [attr(p, 'name') ?? '', p.text])),
    tags: kids('tags').map((t) => attr(t, 'name') ?? ''),
  };
}

/** Run a bash script (the emergency procedure) in `cwd`. */
export function bash(script: string, cwd: string, env: NodeJS.ProcessEnv = process.env): RunResult {
  const r = spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8', maxBuffer: 64 * MiB });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The emergency procedure of spec §5, run by bash with stock tools (GNU
 * tar, Debian's scrypt, the compression filter's -d) in a new directory
 * under `parent`: the header checked, qubes.xml and then each of `files`
 * (paths in the archive, e.g. vm3/private.img) extracted; returns the directory.
 */
export function emergencyProcedure(backup: string, files: string[], parent: string, pass: string): string {
  const dir = fs.mkdtempSync(path.join(parent, 'em-'));
  fs.writeFileSync(path.join(dir, 'pass'), pass);
  const script = `
set -euo pipefail
backup_pass=$(cat pass)
tar -i -xf ${JSON.stringify(backup)} backup-header backup-header.hmac qubes.xml.000.enc
printf '%s' "backup-header!$backup_pass" | scrypt dec -P backup-header.hmac backup-header.verified
cmp backup-header backup-header.verified
backup_id=$(sed -n 's/^backup-id=//p' backup-header)
compressed=$(sed -n 's/^compressed=//p' backup-header)
filter=$(sed -n 's/^compression-filter=//p' backup-header)
unpack() { if [ "$compressed" = True ]; then "$filter" -d; else cat; fi; }
printf '%s' "$backup_id!qubes.xml.000!$backup_pass" | scrypt dec -P qubes.xml.000.enc | unpack | tar -x
for f in ${files.join(' ')}; do
  tar -i -xf ${JSON.stringify(backup)} "$(dirname "$f")/"
  for c in $(ls "$f".*.enc | sort -V); do
    printf '%s' "$backup_id!\${c%.enc}!$backup_pass" | scrypt dec -P "$c" "\${c%.enc}"
  done
  cat $(ls "$f".*.enc | sort -V | sed 's/\\.enc$//') | unpack | tar -x
done
`;
  const r = bash(script, dir);
  if (r.code !== 0) throw new Error(`emergency procedure failed: ${r.stderr}`);
  return dir;
}

export const BIN = (name: string) => path.join(ROOT, 'bin', name);

/** Debian's python3 (with python3-lxml) rather than another one first on PATH. */
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Whether lxml, which the reference and most XML tools use, parses a file; its complaint otherwise. */
export function lxmlError(file: string): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import lxml.etree,sys; lxml.etree.parse(sys.argv[1])', file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status === 0 ? undefined : r.stderr.trim().split('\n').at(-1) || `exit ${r.status}`;
}

export interface RefusedOptions {
  pass: string;
  /** More arguments (before the backup file), e.g. qube names after it are given in `after`. */
  args?: string[];
  after?: string[];
  /** Prepare each fresh host (a template the backup's qubes need). */
  setup?: (h: Host) => void;
}

/**
 * Restore (and verify) `members` into a fresh store: both must fail with
 * exactly one error line matching `message`, no stack trace, and leave the
 * store and every file and directory as they were; the store still parses
 * with lxml.
 */
export function expectRefused(members: Member[], message: RegExp, o: RefusedOptions): void {
  const h = freshHost();
  o.setup?.(h);
  const file = path.join(h.dir, 'bad-backup');
  writeMembers(file, members);
  const pf = passFile(h.dir, o.pass);
  const before = h.xml();
  const filesBefore = h.files();
  for (const mode of [[], ['--verify-only']]) {
    const r = h.q('qvm-backup-restore', ...mode, ...(o.args ?? []), '-p', pf, file, ...(o.after ?? []));
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('qvm-backup-restore: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(h.xml()).toBe(before);
    expect(h.files()).toEqual(filesBefore);
  }
  expect(lxmlError(path.join(h.dir, 'qubes.xml'))).toBeUndefined();
}
