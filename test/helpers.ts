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
export const vector = (rel: string) => path.join(VECTORS, rel);

export interface TmpStore {
  dir: string;
  xml: string;
  env: NodeJS.ProcessEnv;
  read(): string;
}

/** A temporary directory with qubes.xml copied from a vector (or none). */
export function tmpStore(vectorRel?: string): TmpStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-test-'));
  const xml = path.join(dir, 'qubes.xml');
  if (vectorRel) fs.copyFileSync(vector(vectorRel), xml);
  const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', NO_COLOR: '1' };
  return { dir, xml, env, read: () => fs.readFileSync(xml, 'utf8') };
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

/** Run bin/NAME without blocking (for concurrency tests). */
export function runAsync(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(path.join(ROOT, 'bin', name), args, { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
