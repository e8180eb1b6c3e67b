// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What a command loads of Node itself (issue 17): loading a built-in module
 * costs start-up time, so commands load the ones they use when they use
 * them. Listing qubes offline needs no cryptography, no sockets and no
 * child processes; a write needs no patched file system.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, tmpStore } from '../helpers.js';

/**
 * Node's own modules a run of bin/NAME loaded (process.moduleLoadList at
 * exit, through a preloaded script). Its output goes to files: a pipe as
 * standard output is a socket, which loads net whatever the command does.
 */
function nodeModulesLoaded(name: string, args: string[], env: NodeJS.ProcessEnv): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-modules-'));
  try {
    const out = path.join(dir, 'modules');
    const preload = path.join(dir, 'record.cjs');
    fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join('\\n')));\n`);
    const stdout = fs.openSync(path.join(dir, 'stdout'), 'w');
    const stderr = fs.openSync(path.join(dir, 'stderr'), 'w');
    const r = spawnSync(path.join(ROOT, 'bin', name), args, { env: { ...env, NODE_OPTIONS: `--require ${preload}` }, stdio: ['ignore', stdout, stderr] });
    fs.closeSync(stdout);
    fs.closeSync(stderr);
    expect({ status: r.status, stderr: fs.readFileSync(path.join(dir, 'stderr'), 'utf8') }).toEqual({ status: 0, stderr: '' });
    return fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter((m) => m.startsWith('NativeModule '))
      .map((m) => m.slice('NativeModule '.length));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('qvm-ls --offline-mode loads none of Node\'s crypto, net, child process or stream-promise modules', () => {
  const s = tmpStore('qubes-xml/q100.xml');
  try {
    const loaded = nodeModulesLoaded('qvm-ls', ['--offline-mode'], s.env);
    expect(loaded).toContain('fs'); // the record works
    expect(loaded.filter((m) => /^(crypto|internal\/crypto\/|net$|child_process$|dgram$|internal\/fs\/promises$|readline$)/.test(m))).toEqual([]);
  } finally {
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
});

test('a write (qvm-prefs, under the lock) does not patch the file system module (no fs promises, readline or child processes loaded)', () => {
  const s = tmpStore('qubes-xml/q10.xml');
  try {
    const loaded = nodeModulesLoaded('qvm-prefs', ['vm0001', 'memory', '512'], s.env);
    expect(s.read()).toContain('<property name="memory">512</property>');
    expect(loaded.filter((m) => /^(internal\/fs\/promises$|readline$|child_process$|net$)/.test(m))).toEqual([]);
  } finally {
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
});
