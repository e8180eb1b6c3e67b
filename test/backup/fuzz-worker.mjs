// A worker thread of test/backup/fuzz.test.ts: runs restores of mutated
// backups through the built library (dist/lib, the code the executables are
// bundled from), each into a fresh copy of a host, and checks what each left.
// Plain JavaScript: worker threads run outside jest's TypeScript transform.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parentPort, workerData } from 'node:worker_threads';

const dist = (m) => new URL(`../../dist/lib/${m}`, import.meta.url).href;
const { restoreBackup } = await import(dist('backup/restore.js'));
const { Store } = await import(dist('app/store.js'));
const { pathsFromEnv } = await import(dist('config.js'));
const { makeVmm } = await import(dist('vmm/open-vmm.js'));
const { loadQubesXml } = await import(dist('app/qubes-xml-read.js'));
const { QubesError, BackupCancelledError } = await import(dist('errors.js'));

const { hostTemplate } = workerData;

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Every path under `dir` with a fingerprint (files: content hash; directories: '/'). */
function tree(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(`${r}/`, ...tree(dir, r));
    else if (e.isFile()) {
      // images of volumes nobody wrote are large and sparse: their size is their fingerprint
      const size = fs.statSync(path.join(dir, r)).size;
      out.push(`${r} ${size > 64 * 1024 * 1024 ? `size ${size}` : sha256(path.join(dir, r))}`);
    }
    else out.push(`${r} (${e.isSymbolicLink() ? 'symlink' : 'special'})`);
  }
  return out.sort();
}

/** A fresh host: the template host copied, its pool paths pointed at the copy. */
function freshHost(dir) {
  fs.cpSync(hostTemplate, dir, { recursive: true });
  const xml = path.join(dir, 'qubes.xml');
  fs.writeFileSync(xml, fs.readFileSync(xml, 'utf8').replaceAll(hostTemplate, dir));
  const env = {
    ...process.env,
    QUBES_XML_PATH: xml,
    QUBES_BASE_DIR: dir,
    QUBES_OFFLINE_MODE: '1',
    QUBES_RUN_DIR: path.join(dir, 'run'),
    QUBES_DOM0_HOME: path.join(dir, 'home', 'user'),
    QUBES_DOM0_USER: 'user',
  };
  return env;
}

/** The image file of a qube's volume in a host (file and file-reflink layouts). */
function image(dir, qube, volume) {
  for (const d of ['vm-templates', 'appvms']) {
    const f = path.join(dir, d, qube, `${volume}.img`);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/** The restore through the library, cancelled by a watchdog at the case's limit. */
async function runLibrary(c, env, problems) {
  const store = new Store(pathsFromEnv(env), makeVmm(true, env));
  const controller = new AbortController();
  const watchdog = setTimeout(() => controller.abort('SIGTERM'), c.limitMs);
  let outcome;
  let message;
  try {
    await restoreBackup({
      input: fs.createReadStream(c.file, { highWaterMark: 1024 * 1024 }),
      passphrase: c.pass,
      store,
      env,
      verifyOnly: c.verifyOnly,
      plan: { exclude: [], only: c.only, renameConflicting: false, useDefaults: true, restoreHome: true, ignoreUsernameMismatch: false, hostUser: 'user' },
      skipBroken: false,
      skipConflicting: false,
      log: () => {},
      summary: () => {},
      confirm: () => true,
      signal: controller.signal,
      home: env.QUBES_DOM0_HOME,
    });
    outcome = c.verifyOnly ? 'verified' : 'restored';
  } catch (e) {
    outcome = 'refused';
    message = e?.message ?? String(e);
    if (e instanceof BackupCancelledError) problems.push(`did not end within ${c.limitMs} ms`);
    else if (!(e instanceof QubesError)) problems.push(`unexpected error ${e?.name}: ${message}\n${e?.stack}`);
    else if (/\n/.test(message)) problems.push(`message of more than one line: ${JSON.stringify(message)}`);
  } finally {
    clearTimeout(watchdog);
  }
  return { outcome, message };
}

/** The restore through bin/qvm-backup-restore (-q: only an error line on stderr), killed at the case's limit. */
function runExecutable(c, env, problems) {
  const pass = path.join(c.caseDir, 'pass');
  const args = ['-q', '--ignore-missing', ...(c.verifyOnly ? ['--verify-only'] : []), '-p', pass, c.file, ...c.only];
  const r = spawnSync(c.bin, args, { env, encoding: 'utf8', timeout: c.limitMs, killSignal: 'SIGKILL' });
  if (r.error || r.signal) {
    problems.push(`did not end within ${c.limitMs} ms (${r.error?.message ?? r.signal})`);
    return { outcome: 'timeout' };
  }
  if (r.status === 0) {
    if (r.stderr !== '') problems.push(`exit 0 with stderr ${JSON.stringify(r.stderr)}`);
    return { outcome: c.verifyOnly ? 'verified' : 'restored' };
  }
  if (r.status !== 1) problems.push(`exit status ${r.status}`);
  if (!/^qvm-backup-restore: error: [^\n]+\n$/.test(r.stderr)) problems.push(`stderr is not one error line: ${JSON.stringify(r.stderr.slice(0, 2000))}`);
  return { outcome: 'refused', message: r.stderr.trim() };
}

async function runCase(c) {
  const problems = [];
  const host = path.join(c.caseDir, 'host');
  fs.mkdirSync(c.caseDir, { recursive: true });
  const env = freshHost(host);
  fs.writeFileSync(path.join(c.caseDir, 'pass'), `${c.pass}\n`);
  const outsideBefore = tree(c.caseDir).filter((p) => !p.startsWith('host/') && p !== 'host/');
  // run/ is QUBES_RUN_DIR (/var/run/qubes: volume locks, running markers), not what a restore keeps
  const hostTree = () => tree(host).filter((p) => !p.startsWith('run/'));
  const before = hostTree();
  const t0 = Date.now();
  let outcome;
  let message;
  if (c.exec) ({ outcome, message } = runExecutable(c, env, problems));
  else ({ outcome, message } = await runLibrary(c, env, problems));
  const elapsed = Date.now() - t0;
  const outsideAfter = tree(c.caseDir).filter((p) => !p.startsWith('host/') && p !== 'host/');
  if (JSON.stringify(outsideAfter) !== JSON.stringify(outsideBefore)) problems.push(`written outside the host: ${outsideAfter.filter((p) => !outsideBefore.includes(p)).join(', ')}`);
  const after = hostTree();
  if (outcome !== 'restored') {
    if (JSON.stringify(after) !== JSON.stringify(before))
      problems.push(`${outcome} but the host changed: +${after.filter((p) => !before.includes(p)).join(' +')} -${before.filter((p) => !after.includes(p)).join(' -')}`);
  }
  // every store afterwards loads with our (strict) reader
  let app;
  try {
    app = loadQubesXml(fs.readFileSync(path.join(host, 'qubes.xml'), 'utf8'), 'the store after the case', makeVmm(true, env), host, []);
  } catch (e) {
    problems.push(`the store does not load: ${e.message}`);
  }
  if (outcome === 'restored') {
    // exactly what the archive authenticates: the expected qubes, each image as made
    if (app) {
      const names = app.domains.all().map((v) => v.name).filter((n) => n !== 'dom0').sort();
      if (JSON.stringify(names) !== JSON.stringify([...c.expect.qubes].sort())) problems.push(`restored qubes ${names.join(',')}, expected ${c.expect.qubes.join(',')}`);
    }
    for (const [key, digest] of Object.entries(c.expect.images)) {
      const [qube, volume] = key.split('/');
      const f = image(host, qube, volume);
      if (!f) problems.push(`no image for ${key}`);
      else if (fs.statSync(f).size > 64 * 1024 * 1024 || sha256(f) !== digest) problems.push(`${key} differs from what the archive authenticates`);
    }
    const unexpected = after.filter((p) => !before.includes(p) && !/^(appvms|vm-templates)\/[^/]+\/|^qubes\.xml |^home\/user\/home-restore-/.test(p));
    if (unexpected.length) problems.push(`restore wrote unexpected paths: ${unexpected.join(', ')}`);
  }
  // the store is kept for the lxml check of the test; the rest goes
  fs.copyFileSync(path.join(host, 'qubes.xml'), path.join(c.storesDir, `${c.id}.xml`));
  fs.rmSync(host, { recursive: true, force: true });
  return { id: c.id, outcome, message, problems, elapsed };
}

// In the executable an unhandled rejection ends the command with a stack trace: a bug of the case that caused it.
let late = [];
process.on('unhandledRejection', (e) => late.push(`unhandled rejection: ${e?.stack ?? e}`));

parentPort.on('message', async (c) => {
  try {
    late = [];
    const result = await runCase(c);
    // a rejection nobody handles is reported once the microtasks of the case ran
    await new Promise((r) => setImmediate(r));
    result.problems.push(...late);
    parentPort.postMessage(result);
  } catch (e) {
    parentPort.postMessage({ id: c.id, outcome: 'crashed', message: String(e?.stack ?? e), problems: [`the check itself failed: ${e?.stack ?? e}`], elapsed: 0 });
  }
});
parentPort.postMessage({ ready: true });
