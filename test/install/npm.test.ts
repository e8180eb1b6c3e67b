// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The npm package: what `npm pack` takes (the shims, their bundles, the man
 * pages that package.json's `man` field names) and what `npm install -g`
 * makes of it (commands in PREFIX/bin, man pages in PREFIX/share/man/manN).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { testNeeding } from '../needs.js';
import { nodeOnlyDir } from './node-dir.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; man?: string[] };
const COMMANDS = Object.keys(pkg.bin).sort();

let tmp: string;
let nodeDir: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-npm-'));
  nodeDir = nodeOnlyDir(tmp);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** npm run by the tests' Node, offline, with a cache of its own. */
const npm = (args: string[], cwd = ROOT) =>
  spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund', `--cache=${path.join(tmp, 'npm-cache')}`], {
    cwd,
    env: { ...process.env, PATH: `${nodeDir}:${process.env.PATH}` },
    encoding: 'utf8',
  });

test("package.json's man field names the generated man pages, one per command", () => {
  const pages = fs.readdirSync(path.join(ROOT, 'man')).filter((f) => /\.[1-9]$/.test(f));
  expect(pkg.man).toEqual(pages.map((p) => `./man/${p}`).sort());
  expect(pages.map((p) => p.slice(0, -2)).sort()).toEqual(COMMANDS);
});

testNeeding(['npm'], 'npm pack takes every shim, its bundle, the launcher, the key derivation program and every man page', () => {
  const r = npm(['pack', '--dry-run', '--json']);
  expect(r.status).toBe(0);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path));
  for (const c of COMMANDS) {
    expect(files).toContain(pkg.bin[c]);
    expect(files).toContain(`dist/bin/${c}.cjs`);
  }
  expect(files).toContain('dist/bin/launch.cjs');
  expect(files).toContain('dist/bin/kdf-child.cjs');
  expect(files).toContain('bin/package.json');
  for (const m of pkg.man ?? []) expect(files).toContain(m.replace(/^\.\//, ''));
});

testNeeding(['npm'], 'npm install -g of the packed package, offline, puts the man pages in share/man/man1 and man8, and the commands run', () => {
  const packDir = path.join(tmp, 'pack');
  fs.mkdirSync(packDir);
  const packed = npm(['pack', '--pack-destination', packDir]);
  expect(packed.status).toBe(0);
  // the tarball itself, as the README installs it, and offline: the bundles
  // carry commander and execa inside, so the package has
  // no dependencies to fetch (they are dev dependencies of the build)
  const tarball = path.join(packDir, `qubes-dom0-tools-${pkg.version}.tgz`);
  const prefix = path.join(tmp, 'prefix');
  const r = npm(['install', '-g', `--prefix=${prefix}`, tarball], tmp);
  expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
  const installedPages = ['man1', 'man8'].flatMap((d) => (fs.existsSync(path.join(prefix, 'share', 'man', d)) ? fs.readdirSync(path.join(prefix, 'share', 'man', d)).map((p) => `${d}/${p}`) : []));
  expect(installedPages.sort()).toEqual((pkg.man ?? []).map((m) => `man${m.slice(-1)}/${path.basename(m)}`).sort());
  for (const c of ['qvm-ls', 'qubesdb-daemon']) {
    const v = spawnSync(c, ['--version'], { env: { PATH: `${nodeDir}:${prefix}/bin:/usr/bin:/bin` }, encoding: 'utf8' });
    expect({ status: v.status, stdout: v.stdout }).toEqual({ status: 0, stdout: `${c} (qubes-dom0-tools) ${pkg.version}\n` });
  }
});
