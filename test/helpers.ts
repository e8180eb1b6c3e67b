// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Test helpers: throwaway stores made from the reference vectors, and the
 * built executables run as a user would run them (bin/NAME, real files).
 * `npm run build` must have run (scripts/test.sh does).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VECTORS = path.resolve(ROOT, '..', 'shared', 'vectors');

const made = new Set<string>();
/** Remove a temporary tree, also one a test left without write permission. */
function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    spawnSync('chmod', ['-R', 'u+rwX', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
// Each test file has its own instance of this module: what it made goes when the file's tests end.
afterAll(() => {
  for (const d of made) removeTree(d);
  made.clear();
});

/** A new directory in the system's temporary directory, removed when the test file ends (or by `removeTmpDir`). */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  return dir;
}

/** Remove a directory of `tmpDir` now. */
export function removeTmpDir(dir: string): void {
  removeTree(dir);
  made.delete(dir);
}
export const vector = (rel: string) => path.join(VECTORS, rel);

export interface TmpStore {
  dir: string;
  xml: string;
  env: NodeJS.ProcessEnv;
  read(): string;
  /** Remove it now (else it goes when the test file ends). */
  remove(): void;
}

/** A temporary directory with qubes.xml copied from a vector (or none), removed when the test file ends. */
export function tmpStore(vectorRel?: string): TmpStore {
  const dir = tmpDir('qubes-test-');
  const xml = path.join(dir, 'qubes.xml');
  if (vectorRel) fs.copyFileSync(vector(vectorRel), xml);
  const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', NO_COLOR: '1' };
  return { dir, xml, env, read: () => fs.readFileSync(xml, 'utf8'), remove: () => removeTmpDir(dir) };
}

/** A store from a vector whose pool directories point into its temporary directory (images land there). */
export function tmpStoreLocalPools(vectorRel: string): TmpStore {
  const s = tmpStore(vectorRel);
  fs.writeFileSync(s.xml, s.read().replaceAll('/var/lib/qubes', s.dir));
  return s;
}

/** The `<domain>` element of a qube in a written store. */
export function domainXml(xml: string, name: string): string {
  const m = new RegExp(
    `<domain id="domain-\\d+" class="\\w+">\\s*<properties>(?:(?!</domain>)[\\s\\S])*?<property name="name">${name}</property>[\\s\\S]*?</domain>`,
  ).exec(xml);
  if (!m) throw new Error(`no domain ${name}`);
  return m[0];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run bin/NAME synchronously. */
export function run(name: string, args: string[], env: NodeJS.ProcessEnv, input?: string): RunResult {
  const r = spawnSync(path.join(ROOT, 'bin', name), args, { env, input: input ?? '', encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Run command NAME in this process (lib/tools/common/in-memory.ts): the
 * same parsing, session and exit codes as bin/NAME, without starting one.
 * For tests of what a command does; tests of the process itself (signals,
 * a closed pipe, start-up, locks between processes) run bin/NAME.
 */
export async function runIn(name: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> {
  // loaded on first use: most test files never run a command in memory
  const { runInMemory } = await import('../lib/tools/common/in-memory.js');
  const { code, stdout, stderr } = await runInMemory(name, args, { env, input });
  return { code, stdout, stderr };
}

/** Run bin/NAME without blocking (for concurrency tests); with `input`, that is its whole standard input, as for `run`. */
export function runAsync(name: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(path.join(ROOT, 'bin', name), args, { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) p.stdin.end(input);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * At most `n` of the functions given to the returned one run at a time
 * (the others wait their turn): e.g. two processes at once on CI's two
 * cores, where jest runs the files one after another and leaves the
 * second core idle under a single-threaded command.
 */
export function slots(n: number): <T>(f: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (f) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await f();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/**
 * A python3 that has lxml (Debian python3-lxml, installed by scripts/test.sh):
 * the system one first, since a python3 earlier on PATH (pyenv) may lack it.
 */
function lxmlPython(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import lxml.etree'], { stdio: 'ignore' }).status === 0) return py;
  }
  throw new Error('lxml is missing: install the Debian package python3-lxml (scripts/test.sh does, as root)');
}

/**
 * Parse each file with lxml, as the reference and every other XML tool
 * would: the error lxml gives for each file it refuses (none: all parse).
 */
export function lxmlErrors(files: string[]): Map<string, string> {
  const script = [
    'import json, sys, lxml.etree',
    'for f in json.load(sys.stdin):',
    '    try:',
    '        lxml.etree.parse(f)',
    '    except Exception as e:',
    '        print(json.dumps([f, str(e)]))',
  ].join('\n');
  const r = spawnSync(lxmlPython(), ['-c', script], { input: JSON.stringify(files), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lxml check failed: ${r.stderr}`);
  return new Map(r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as [string, string]));
}

/** The first `n` bytes of a file (of a large sparse image too). */
export function fileHead(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}
