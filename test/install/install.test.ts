// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * `make install DESTDIR=$tmp PREFIX=/usr` on this tree (built by
 * scripts/test.sh), then the installed suite used as a user would: commands
 * found on PATH=$tmp/usr/bin:/usr/bin:/bin behind a directory that holds only
 * the Node the tests run on, man pages rendered by man, bash completion loaded
 * on demand by bash-completion's own loader; then `make rpm` and the package's
 * file list against the installed tree.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, vector } from '../helpers.js';
import { available, testNeeding } from '../needs.js';
import { nodeOnlyDir } from './node-dir.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; man: string[] };
const COMMANDS = Object.keys(pkg.bin).sort();
const MAN_PAGES = pkg.man.map((m) => path.basename(m)).sort();

/** The layout PREFIX=/usr gives (the Makefile's defaults below PREFIX). */
const BINDIR = '/usr/bin';
const PKGLIBDIR = '/usr/lib/qubes-dom0-tools';
const MANDIR = '/usr/share/man';
const COMPLETIONDIR = '/usr/share/bash-completion/completions';
const UNITDIR = '/usr/lib/systemd/system';
const UNITS = fs.readdirSync(path.join(ROOT, 'contrib', 'systemd')).sort();
/** The Admin API methods qubesd answers: each gets an /etc/qubes-rpc entry (admin-api/, made by gen-docs). */
const RPC_METHODS = fs.readFileSync(path.join(ROOT, 'admin-api', 'qubes-rpc-methods'), 'utf8').split('\n').filter(Boolean);
const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';

let tmp: string;
/** DESTDIR of the install */
let dest: string;
/** Holds only `node` (nodeOnlyDir). */
let nodeDir: string;

const make = (args: string[], opts: SpawnSyncOptions = {}) =>
  spawnSync('make', ['-s', '-C', ROOT, ...args], { encoding: 'utf8', ...opts }) as { status: number | null; stdout: string; stderr: string };

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-install-'));
  dest = path.join(tmp, 'root');
  nodeDir = nodeOnlyDir(tmp);
  if (!available('make')) return; // the tests that need the install say so
  const r = make(['install', `DESTDIR=${dest}`, 'PREFIX=/usr']);
  if (r.status !== 0) throw new Error(`make install failed: ${r.stderr}`);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Only the installed commands and the tests' Node on PATH, nothing of this environment. */
const installedEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: `${nodeDir}:${dest}${BINDIR}:/usr/bin:/bin`,
  HOME: tmp,
  LC_ALL: 'C.UTF-8',
  ...extra,
});

const runInstalled = (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(cmd, args, { env: installedEnv(extra), encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error?.message };
};

/** Every entry below `root`, as absolute paths inside it: 'f PATH', 'l PATH -> TARGET' or 'd PATH'. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isDirectory()) {
        out.push(`d ${r}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`l ${r} -> ${fs.readlinkSync(path.join(root, r))}`);
      else out.push(`f ${r}`);
    }
  };
  walk('');
  return out.sort();
}

/** The files and symlinks install must put, and nothing else. */
function expectedFiles(): string[] {
  const section = (page: string) => page.slice(page.lastIndexOf('.') + 1);
  return [
    `f ${PKGLIBDIR}/package.json`,
    `f ${PKGLIBDIR}/completions/qubes-tools.bash`,
    `f ${PKGLIBDIR}/bin/package.json`,
    `f ${PKGLIBDIR}/dist/bin/launch.cjs`,
    // the program of the backup's key derivation process
    `f ${PKGLIBDIR}/dist/bin/kdf-child.cjs`,
    ...COMMANDS.flatMap((c) => [
      `f ${PKGLIBDIR}/bin/${c}`,
      `f ${PKGLIBDIR}/dist/bin/${c}.cjs`,
      `l ${BINDIR}/${c} -> ../lib/qubes-dom0-tools/bin/${c}`,
      `l ${COMPLETIONDIR}/${c} -> ../../../lib/qubes-dom0-tools/completions/qubes-tools.bash`,
    ]),
    ...MAN_PAGES.map((p) => `f ${MANDIR}/man${section(p)}/${p}`),
    ...UNITS.map((u) => `f ${UNITDIR}/${u}`),
    'f /etc/qubes/policy.d/90-admin-default.policy',
    ...['local', 'global'].flatMap((s) => ['ro', 'rwx'].map((a) => `f /etc/qubes/policy.d/include/admin-${s}-${a}`)),
    ...RPC_METHODS.map((m) => `l /etc/qubes-rpc/${m} -> /var/run/qubesd.sock`),
    // the volume import is a script (it copies the data itself), under two names
    'f /etc/qubes-rpc/admin.vm.volume.Import',
    'l /etc/qubes-rpc/admin.vm.volume.ImportWithSize -> admin.vm.volume.Import',
  ].sort();
}

describe('make install DESTDIR=... PREFIX=/usr', () => {
  testNeeding(['make'], 'puts exactly the bundles, shims, commands, completions, man pages and units in their places', () => {
    expect(tree(dest).filter((e) => !e.startsWith('d '))).toEqual(expectedFiles());
    // package.json at the top: the code finds its own commands
    // (bin/qubesdb-daemon) through its name; the shims beside bin/package.json are CommonJS
    const installedPkg = JSON.parse(fs.readFileSync(`${dest}${PKGLIBDIR}/package.json`, 'utf8'));
    expect([installedPkg.name, installedPkg.type]).toEqual(['qubes-dom0-tools', 'module']);
    for (const c of COMMANDS) expect(fs.statSync(`${dest}${PKGLIBDIR}/bin/${c}`).mode & 0o111).toBe(0o111);
    // the daemons' pages in section 8
    expect(MAN_PAGES.filter((p) => p.endsWith('.8'))).toEqual(['qubesd.8', 'qubesdb-daemon.8']);
  });

  testNeeding(['make'], 'the installed units run the installed command', () => {
    const service = fs.readFileSync(`${dest}${UNITDIR}/qubes-firewall-expire.service`, 'utf8');
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/qubes-firewall-expire$/m);
    expect(fs.existsSync(`${dest}/usr/bin/qubes-firewall-expire`)).toBe(true);
    // the unit an autostart qube's instance is enabled from (qubes-vm@NAME.service)
    expect(fs.readFileSync(`${dest}${UNITDIR}/qubes-vm@.service`, 'utf8')).toMatch(/^ExecStart=\/usr\/bin\/qvm-start --skip-if-running -- %i$/m);
    // another BINDIR is written into the unit
    const other = path.join(tmp, 'local');
    const r = make(['install', `DESTDIR=${other}`, 'PREFIX=/opt/q']);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(`${other}/opt/q/lib/systemd/system/qubes-firewall-expire.service`, 'utf8')).toMatch(/^ExecStart=\/opt\/q\/bin\/qubes-firewall-expire$/m);
    expect(fs.readFileSync(`${other}/opt/q/lib/systemd/system/qubes-vm@.service`, 'utf8')).toMatch(/^ExecStart=\/opt\/q\/bin\/qvm-start --skip-if-running -- %i$/m);
    expect(runInstalled(`${other}/opt/q/bin/qvm-ls`, ['--version']).stdout).toBe(`qvm-ls (qubes-dom0-tools) ${pkg.version}\n`);
    fs.rmSync(other, { recursive: true, force: true });
  });

  testNeeding(['make'], 'every command answers --version, found on PATH, run by the first node on PATH', () => {
    for (const c of COMMANDS) {
      expect({ c, ...runInstalled(c, ['--version']) }).toEqual({ c, code: 0, stdout: `${c} (qubes-dom0-tools) ${pkg.version}\n`, stderr: '', error: undefined });
    }
  });

  testNeeding(['make'], 'the installed commands read and write a store', () => {
    const store = path.join(tmp, 'store');
    fs.mkdirSync(store);
    const xml = path.join(store, 'qubes.xml');
    fs.copyFileSync(vector('qubes-xml/q10.xml'), xml);
    const env = { QUBES_XML_PATH: xml, QUBES_BASE_DIR: store, QUBES_OFFLINE_MODE: '1' };
    expect(runInstalled('qvm-prefs', ['vm0001', 'memory', '512'], env)).toMatchObject({ code: 0, stderr: '' });
    expect(runInstalled('qvm-prefs', ['vm0001', 'memory'], env)).toMatchObject({ code: 0, stdout: '512\n' });
    expect(runInstalled('qvm-ls', ['--raw-list'], env).stdout).toMatch(/^dom0\n(.*\n)*vm0001\n/);
  });

  testNeeding(['make'], 'qubesdb-daemon forks itself from its installed path; qubesdb-write and -read talk to it', async () => {
    // short: Unix socket paths hold at most 107 bytes
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qdb-'));
    const env = { QUBESDB_SOCKET_DIR: dir };
    try {
      expect(runInstalled('qubesdb-daemon', ['7', 'work'], env)).toMatchObject({ code: 0, stderr: '' });
      expect(runInstalled('qubesdb-write', ['-d', 'work', '/installed', 'yes'], env)).toMatchObject({ code: 0, stderr: '' });
      expect(runInstalled('qubesdb-read', ['-d', 'work', '/installed'], env)).toMatchObject({ code: 0, stdout: 'yes\n' });
    } finally {
      const pidFile = path.join(dir, 'qubesdb.work.pid');
      if (fs.existsSync(pidFile)) {
        const pid = Number(fs.readFileSync(pidFile, 'utf8'));
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 500 && fs.existsSync(path.join(dir, 'qubesdb.work.sock')); i++) await new Promise((r) => setTimeout(r, 10));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  testNeeding(['make', 'man', 'groff'], 'man --warnings -l renders every installed page without a warning', () => {
    for (const page of MAN_PAGES) {
      const file = `${dest}${MANDIR}/man${page.slice(-1)}/${page}`;
      const r = spawnSync('man', ['--warnings', '-l', file], { env: { ...installedEnv(), MANWIDTH: '80' }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      expect({ page, status: r.status, stderr: r.stderr }).toEqual({ page, status: 0, stderr: '' });
    }
  });

  testNeeding(['make', 'bash', BASH_COMPLETION], "bash-completion loads qvm-prefs' completion on demand from the installed path; qvm-prefs <TAB> offers the store's qubes", () => {
    const store = path.join(tmp, 'completion-store');
    fs.mkdirSync(store);
    const xml = path.join(store, 'qubes.xml');
    fs.copyFileSync(vector('qubes-xml/q10.xml'), xml);
    // What bash does on TAB after `qvm-prefs `: a command without a completion
    // goes to the default (-D) completion, which is bash-completion's loader;
    // it returns 124 once it has sourced a file that registered one, and bash
    // then runs that. extdebug makes `declare -F` name the file a function came from.
    const script = `
      source ${BASH_COMPLETION} || exit 90
      complete -p qvm-prefs >/dev/null 2>&1 && exit 91
      loader=$(complete -p -D | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')
      [ -n "$loader" ] || exit 92
      "$loader" qvm-prefs '' qvm-prefs
      [ $? = 124 ] || exit 93
      fn=$(complete -p qvm-prefs | sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p')
      shopt -s extdebug
      declare -F "$fn" >&2
      COMP_WORDS=(qvm-prefs '') COMP_CWORD=1 COMP_LINE='qvm-prefs ' COMP_POINT=10 COMPREPLY=()
      "$fn" qvm-prefs '' qvm-prefs
      printf '%s\\n' "\${COMPREPLY[@]}"
    `;
    // XDG_DATA_DIRS: where bash-completion looks for completions/NAME (its
    // default /usr/local/share:/usr/share, here the installed share directory)
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], {
      env: installedEnv({ XDG_DATA_DIRS: `${dest}/usr/share`, QUBES_XML_PATH: xml }),
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    // declare -F: the function, its line, its file (the file bash-completion sourced)
    const [fn, line, file] = r.stderr.trimEnd().split(' ');
    expect({ fn, line: /^\d+$/.test(line ?? ''), file, lines: r.stderr.split('\n').length }).toEqual({ fn: '_qubes_tools_qvm_prefs', line: true, file: `${dest}${COMPLETIONDIR}/qvm-prefs`, lines: 2 });
    const qubes = runInstalled('qvm-ls', ['--raw-list'], { QUBES_XML_PATH: xml, QUBES_OFFLINE_MODE: '1' }).stdout.split('\n').filter(Boolean);
    expect(qubes.length).toBeGreaterThan(5);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(qubes.sort());
  });

  testNeeding(['make'], 'make uninstall removes every file install put', () => {
    const other = path.join(tmp, 'uninstall');
    expect(make(['install', `DESTDIR=${other}`, 'PREFIX=/usr']).status).toBe(0);
    expect(make(['uninstall', `DESTDIR=${other}`, 'PREFIX=/usr']).status).toBe(0);
    expect(tree(other).filter((e) => !e.startsWith('d '))).toEqual([]);
    // the shared directories stay (other packages' files live there), not the package's own
    expect(fs.existsSync(`${other}${PKGLIBDIR}`)).toBe(false);
    fs.rmSync(other, { recursive: true, force: true });
  });
});

/** Whether this machine can cut a command off the network (root, unshare). */
const canUnshareNet = spawnSync('unshare', ['-n', 'true']).status === 0;

describe('rpm', () => {
  testNeeding(
    ['make', 'rpmbuild', 'rpm', 'tar'],
    'make rpm builds (rpmbuild -bb, from the make dist tarball, offline) a package that holds exactly the installed files',
    () => {
      const work = path.join(tmp, 'rpm');
      const args = ['rpm', `BUILDDIR=${work}/build`, `DISTDIR=${work}`, `RPMDIR=${work}/rpmbuild`];
      // without a network where the machine allows it: the build must not need one
      const r = canUnshareNet ? spawnSync('unshare', ['-n', 'make', '-s', '-C', ROOT, ...args], { encoding: 'utf8' }) : make(args);
      expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
      const rpmFile = path.join(work, 'rpmbuild', 'RPMS', 'noarch', `qubes-dom0-tools-${pkg.version}-1.noarch.rpm`);
      const q = spawnSync('rpm', ['-qlp', rpmFile], { encoding: 'utf8' });
      expect(q.status).toBe(0);
      // rpmbuild may compress man pages after the install (Fedora's
      // brp-compress does): a page is the installed page with such a suffix
      const listed = q.stdout
        .split('\n')
        .filter(Boolean)
        .map((f) => (f.startsWith(`${MANDIR}/`) ? f.replace(/\.(gz|bz2|xz|zst)$/, '') : f))
        .sort();
      // the installed files and symlinks, and the package's own directories
      const installed = tree(dest)
        .filter((e) => !e.startsWith('d ') || e === `d ${PKGLIBDIR}` || e.startsWith(`d ${PKGLIBDIR}/`))
        .map((e) => e.slice(2).replace(/ -> .*$/, ''))
        .sort();
      expect(listed).toEqual(installed);
      const requires = spawnSync('rpm', ['-qpR', rpmFile], { encoding: 'utf8' }).stdout;
      expect(requires).toMatch(/^nodejs\(engine\) >= 22$/m);
    },
    300000,
  );
});
