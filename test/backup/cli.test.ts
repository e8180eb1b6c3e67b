/**
 * qvm-backup and qvm-backup-restore as commands: summary, selection,
 * standard output and input, profiles, filters, dom0 home, conflicts,
 * timestamps, usage errors, and cancelling with SIGINT.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, vector } from '../helpers.js';
import { backupIn, bash, BIN, domainFacts, domains, freshHost, passFile, readMembers, sha256, writeAt, type Host } from './backup-env.js';

const PASS = 'pass phrase';
let src: Host;
let backup: string;

beforeAll(() => {
  src = freshHost();
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  src.ok('qvm-create', '-l', 'red', '-t', 'tpl', 'scratch');
  src.ok('qvm-prefs', 'scratch', 'include_in_backups', 'False');
  // smaller than the default 2 GiB: hashing holes costs seconds
  fs.truncateSync(src.img('work', 'private'), 16 * 1024 * 1024);
  writeAt(src.img('work', 'private'), 0, randomBytes(3000));
  fs.writeFileSync(path.join(src.home, 'notes.txt'), 'my dom0 notes\n');
  const dest = fs.mkdtempSync(path.join(src.dir, 'dest-'));
  const r = src.q('qvm-backup', '-y', '-p', passFile(src.dir, PASS), dest);
  expect(r.code).toBe(0);
  backup = backupIn(dest);
});

const stamp = (h: Host, vm: string) => domainFacts(domains(h.xml()).get(vm) as never).props.get('backup_timestamp');

test('summary of qubes with include_in_backups (dom0 as its home, last), the others listed; timestamps set', () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  h.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
  const before = Math.floor(Date.now() / 1000);
  const r = h.q('qvm-backup', '-y', '-x', 'tpl', '-p', passFile(h.dir, PASS), dest);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(
    /^------------------\+--------------\+--------------\+\n {15}VM \| {9}type \| {9}size \|\n------------------\+--------------\+--------------\+\n {13}work \| {11}VM \| +\S+( \S+)? \|\n {13}dom0 \| {4}User home \| +\S+( \S+)? \|\n------------------\+--------------\+--------------\+\n {6}Total size: \| +\S+( \S+)? \|\n------------------\+--------------\+--------------\+\nVMs not selected for backup:\n - tpl\n$/,
  );
  expect(fs.readdirSync(dest)).toEqual([expect.stringMatching(/^qubes-\d{4}-\d\d-\d\dT\d{6}$/)]);
  expect(Number(stamp(h, 'work'))).toBeGreaterThanOrEqual(before);
  expect(stamp(h, 'tpl')).toBeUndefined();
});

test('no timestamp and no file when the backup fails; usage errors exit 2', () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  const r = h.q('qvm-backup', '-y', '-p', passFile(h.dir, PASS), path.join(h.dir, 'no-such-dir', 'file'), 'tpl');
  expect(r).toMatchObject({ code: 1, stderr: `qvm-backup: error: the backup directory for ${path.join(h.dir, 'no-such-dir', 'file')} does not exist\n` });
  expect(stamp(h, 'tpl')).toBeUndefined();
  expect(h.q('qvm-backup', '-y')).toMatchObject({ code: 2, stderr: "qvm-backup: error: either --profile or 'backup_location' is required\n" });
  expect(h.q('qvm-backup', '-y', h.dir, 'nope')).toMatchObject({ code: 2, stderr: "qvm-backup: error: no such domain: 'nope'\n" });
  expect(h.q('qvm-backup', '--profile', 'x', '-x', 'tpl')).toMatchObject({ code: 2, stderr: 'qvm-backup: error: --exclude-list option could not be used together with --profile\n' });
  const pf = passFile(h.dir, 'a\u0007b');
  expect(h.q('qvm-backup', '-y', '-p', pf, h.dir, 'tpl')).toMatchObject({ code: 1 });
  expect(fs.readdirSync(h.dir).filter((n) => n.startsWith('qubes-'))).toEqual([]);
});

test('backup of dom0 home and restore into home-restore-*, or not with --skip-dom0-home', async () => {
  expect((await readMembers(backup)).map((m) => m.name).at(-1)).toBe('dom0-home/user.000.enc');
  const h = freshHost();
  const r = h.q('qvm-backup-restore', '--skip-dom0-home', '-p', passFile(h.dir, PASS), backup);
  expect(r.code).toBe(0);
  expect(r.stdout).not.toContain('AdminVM');
  expect(fs.readdirSync(h.home)).toEqual([]);
  expect(sha256(h.img('work', 'private'))).toBe(sha256(src.img('work', 'private')));
  const h2 = freshHost();
  const r2 = h2.q('qvm-backup-restore', '-p', passFile(h2.dir, PASS), backup);
  expect(r2.code).toBe(0);
  expect(r2.stdout).toMatch(/ dom0 \|\s+AdminVM \|/);
  const [restored] = fs.readdirSync(h2.home);
  expect(restored).toMatch(/^home-restore-\d{4}-\d\d-\d\d-\d{6}$/);
  expect(fs.readFileSync(path.join(h2.home, restored as string, 'dom0-home/user/notes.txt'), 'utf8')).toBe('my dom0 notes\n');
});

test('conflicting names: refused, skipped, or renamed', () => {
  const h = freshHost();
  const pf = passFile(h.dir, PASS);
  expect(h.q('qvm-backup-restore', '--skip-dom0-home', '-p', pf, backup).code).toBe(0);
  const before = h.xml();
  const r = h.q('qvm-backup-restore', '--skip-dom0-home', '-p', pf, backup);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(' <-- A VM with the same name already exists on the host!');
  expect(r.stderr).toContain('app: *** There are VMs with conflicting names on the host! ***');
  expect(r.stderr).toContain('qvm-backup-restore: error: Remove VMs with conflicting names from the host before proceeding.');
  expect(h.xml()).toBe(before);
  expect(h.q('qvm-backup-restore', '--skip-dom0-home', '--skip-conflicting', '-p', pf, backup).code).toBe(0);
  expect(h.xml()).toBe(before);
  const r3 = h.q('qvm-backup-restore', '--skip-dom0-home', '--rename-conflicting', '-p', pf, backup, 'work');
  expect(r3.code).toBe(0);
  expect(r3.stdout).toContain(" <-- Will be renamed to 'work-1'");
  expect(r3.stdout).toContain(' <-- Excluded from restore');
  expect(sha256(h.img('work-1', 'private'))).toBe(sha256(src.img('work', 'private')));
  expect(domainFacts(domains(h.xml()).get('work-1') as never).props.get('template')).toBe('tpl');
});

test('missing template: refused unless --skip-broken or --ignore-missing; -x excludes', () => {
  const h = freshHost();
  const pf = passFile(h.dir, PASS);
  const r = h.q('qvm-backup-restore', '--skip-dom0-home', '-x', 'tpl', '-p', pf, backup);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(' <-- No matching template on the host or in the backup found!');
  expect(r.stderr).toContain('qvm-backup-restore: error: Install them before proceeding with the restore. Or pass: --skip-broken or --ignore-missing.');
  const r2 = h.q('qvm-backup-restore', '--skip-dom0-home', '-x', 'tpl', '--skip-broken', '-p', pf, backup);
  expect(r2.code).toBe(0);
  expect(domains(h.xml()).has('work')).toBe(false);
  expect(domains(h.xml()).has('tpl')).toBe(false);
});

test('qvm-backup - | qvm-backup-restore -: a backup through a pipe; xz filter', () => {
  const h = freshHost();
  const r2 = bash(
    `set -o pipefail; QUBES_XML_PATH=${src.env.QUBES_XML_PATH} QUBES_BASE_DIR=${src.env.QUBES_BASE_DIR} ${BIN('qvm-backup')} -y -q -Z xz -p ${passFile(src.dir, PASS)} - work tpl | ${BIN('qvm-backup-restore')} -p ${passFile(h.dir, PASS)} -`,
    h.dir,
    h.env,
  );
  expect(r2.stderr).toContain('-> Done.');
  expect(r2.code).toBe(0);
  expect(sha256(h.img('work', 'private'))).toBe(sha256(src.img('work', 'private')));
});

test('a failing restore from a pipe closes it at once: the writer gets an error instead of hanging', () => {
  const h = freshHost();
  const t0 = Date.now();
  const r = bash(`(cat ${backup}; cat /dev/zero) | ${BIN('qvm-backup-restore')} -p ${passFile(h.dir, 'wrong')} -; echo "status: \${PIPESTATUS[*]}"`, h.dir, h.env);
  expect(Date.now() - t0).toBeLessThan(30_000);
  expect(r.stderr).toContain('qvm-backup-restore: error: Corrupted backup header');
  expect(r.stdout).toMatch(/status: [1-9]\d* 1\n/);
});

test('profiles: --save-profile writes the options; --profile runs them', () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
  expect(h.q('qvm-backup', '-y', '-q', '--save-profile', 'nightly', '--no-compress', '-x', 'dom0', '-p', passFile(h.dir, PASS), dest, 'tpl').code).toBe(0);
  const conf = path.join(h.dir, 'profiles', 'nightly.conf');
  expect(fs.readFileSync(conf, 'utf8')).toBe(`compression: false\ndestination_path: ${dest}\ndestination_vm: dom0\nexclude:\n- dom0\ninclude:\n- tpl\n`);
  fs.appendFileSync(conf, `passphrase_text: ${PASS}\n`);
  fs.rmSync(dest, { recursive: true });
  fs.mkdirSync(dest);
  const r = h.q('qvm-backup', '-y', '-q', '--profile', 'nightly');
  expect(r.code).toBe(0);
  const h2 = freshHost();
  expect(h2.q('qvm-backup-restore', '-p', passFile(h2.dir, PASS), backupIn(dest)).code).toBe(0);
  expect(domains(h2.xml()).has('tpl')).toBe(true);
});

/** Start a command, send SIGINT after `ms`, collect the result. */
function interrupted(cmd: string, args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<{ code: number | null; stderr: string; elapsed: number }> {
  return new Promise((resolve) => {
    const p = spawn(BIN(cmd), args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    let sent = 0;
    setTimeout(() => {
      sent = Date.now();
      p.kill('SIGINT');
    }, ms);
    // a cancelled command ends by its signal, as the shell's status 130 shows
    p.on('close', (code, signal) => resolve({ code: code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : -1), stderr, elapsed: Date.now() - sent }));
  });
}

test('Ctrl-C during a backup: exit 130, a clear message, no partial file, no timestamp', async () => {
  const dest = fs.mkdtempSync(path.join(src.dir, 'cancel-'));
  const env = { ...src.env, QUBES_BACKUP_SCRYPT_LOGN: '' }; // the real key derivation: seconds per chunk
  const stampBefore = stamp(src, 'tpl');
  const r = await interrupted('qvm-backup', ['-y', '-p', passFile(src.dir, PASS), dest, 'work', 'tpl'], env, 1500);
  expect(r.code).toBe(130);
  expect(r.stderr).toContain('qvm-backup: error: Backup cancelled; the partial backup file was removed');
  expect(r.elapsed).toBeLessThan(2000);
  expect(fs.readdirSync(dest)).toEqual([]);
  expect(stamp(src, 'tpl')).toBe(stampBefore);
});

test('Ctrl-C during a restore: exit 130, nothing restored, no leftovers', async () => {
  const h = freshHost();
  const before = h.xml();
  const r = await interrupted('qvm-backup-restore', ['-p', passFile(h.dir, 'correct horse battery staple'), vector('backup-v4/gzip/backup.bin')], h.env, 5000);
  expect(r.code).toBe(130);
  expect(r.stderr).toContain('qvm-backup-restore: error: Restore cancelled; nothing was restored');
  expect(h.xml()).toBe(before);
  expect(h.files().filter((f) => f.endsWith('.img'))).toEqual([]);
});

test('on a terminal: a progress bar with percentage, bytes, rate and time left; declining the question writes nothing', () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  writeAt(h.img('tpl', 'root'), 0, randomBytes(64 * 1024));
  const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
  // script(1) gives the command a terminal
  const r = bash(`script -qec "${BIN('qvm-backup')} -y -p ${passFile(h.dir, PASS)} ${dest} tpl" /dev/null`, h.dir, h.env);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\rMaking a backup\.\.\. \[#{24}\] 100\.00% \S+( \S+)?\/\S+( \S+)? \S+( \S+)?\/s ETA \d+:\d\d/);
  const quiet = bash(`script -qec "${BIN('qvm-backup')} -q -y -p ${passFile(h.dir, PASS)} ${dest} tpl" /dev/null`, h.dir, h.env);
  expect(quiet.stdout).not.toContain('Making a backup');
  const before = fs.readdirSync(dest);
  const no = h.q('qvm-backup', '-p', passFile(h.dir, PASS), dest, 'tpl');
  expect(no.code).toBe(0);
  expect(no.stdout).toMatch(/Do you want to proceed\? \[y\/N\] $/);
  expect(fs.readdirSync(dest)).toEqual(before);
});

test("a qube's firewall rules and notes travel with it", () => {
  const h = freshHost();
  h.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  h.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  h.ok('qvm-firewall', 'work', 'add', 'drop', 'dsthost=example.com');
  fs.writeFileSync(path.join(h.dir, 'appvms/work/notes.txt'), 'remember the milk\n');
  const dest = fs.mkdtempSync(path.join(h.dir, 'dest-'));
  h.ok('qvm-backup', '-y', '-q', '-x', 'dom0', '-p', passFile(h.dir, PASS), dest, 'work', 'tpl');
  const h2 = freshHost();
  h2.ok('qvm-backup-restore', '-q', '-p', passFile(h2.dir, PASS), backupIn(dest));
  expect(h2.ok('qvm-firewall', 'work', 'list')).toBe(h.ok('qvm-firewall', 'work', 'list'));
  expect(fs.readFileSync(path.join(h2.dir, 'appvms/work/notes.txt'), 'utf8')).toBe('remember the milk\n');
});

test('restore without --passphrase-file asks for the passphrase and a confirmation; "n" restores nothing', () => {
  const h = freshHost();
  const before = h.xml();
  const no = run('qvm-backup-restore', ['--skip-dom0-home', backup], h.env, `${PASS}\nn\n`);
  expect(no.code).toBe(0);
  expect(no.stderr).toContain('Please enter the passphrase to verify and (if encrypted) decrypt the backup: ');
  expect(no.stdout).toMatch(/Do you want to proceed\? \[y\/N\] $/);
  expect(h.xml()).toBe(before);
  const yes = run('qvm-backup-restore', ['--skip-dom0-home', backup], h.env, `${PASS}\ny\n`);
  expect(yes.code).toBe(0);
  expect(domains(h.xml()).has('work')).toBe(true);
});

test("--auto-close is accepted and changes nothing outside paranoid mode, as in the reference; --location-is-service needs -d, then qrexec", () => {
  const h = freshHost();
  const pf = passFile(h.dir, PASS);
  const plain = h.q('qvm-backup-restore', '--verify-only', '-p', pf, backup);
  const closed = h.q('qvm-backup-restore', '--verify-only', '--auto-close', '-p', pf, backup);
  expect(plain.code).toBe(0);
  expect(closed).toEqual(plain);
  expect(h.q('qvm-backup-restore', '--auto-close', '--paranoid-mode', '-p', pf, backup)).toMatchObject({
    code: 1,
    stderr: 'qvm-backup-restore: error: --paranoid-mode needs disposable qubes and qrexec, which this build does not have\n',
  });
  const before = h.xml();
  expect(h.q('qvm-backup-restore', '--location-is-service', '-p', pf, 'qubes.Restore')).toMatchObject({
    code: 2,
    stderr: 'qvm-backup-restore: error: --location-is-service option requires -d\n',
  });
  expect(h.q('qvm-backup-restore', '--location-is-service', '-d', 'dom0', '-p', pf, 'qubes.Restore')).toMatchObject({
    code: 1,
    stderr: 'qvm-backup-restore: error: --location-is-service needs qrexec, which this build does not have\n',
  });
  expect(h.xml()).toBe(before);
});
