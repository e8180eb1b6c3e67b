// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starts a command bundle (dist/bin/NAME.cjs) with a V8 code cache: the
 * bytecode of every function the previous run of that command compiled,
 * kept per user, so that a start deserializes code instead of parsing and
 * compiling ~300 KB of JavaScript (bench/RESULTS.md, issue 17).
 *
 * Why not Node's own compile cache (`module.enableCompileCache`): it saves
 * a module's code right after compiling it, before it runs, so it holds
 * only the top level; every function V8 compiles lazily (nearly all of
 * them) is parsed again on each start. `vm.Script#createCachedData` called
 * when the process exits holds the functions the run used as well.
 *
 * The cache holds code, never data, and is only ever an optimisation:
 * - It is used only when it was made by this Node (version, architecture)
 *   from this very bundle file: its path, device, inode, size, modification
 *   and change times (the change time moves on every write and cannot be set
 *   back, so an edited bundle never meets old code). V8 itself refuses a
 *   cache from other V8 flags. Anything else, and the bundle is compiled
 *   from source as if there were no cache, which is then rewritten.
 * - It lives in a directory of the user's own: `QUBES_CODE_CACHE_DIR`, else
 *   `$XDG_CACHE_HOME/qubes-dom0-tools`, else `~/.cache/qubes-dom0-tools`,
 *   made with mode 0700 and used only if it is a directory owned by the
 *   effective user that nobody else may write (what V8 loads is code that
 *   runs as that user; root never takes code from a user's directory).
 * - `QUBES_NO_CODE_CACHE=1`, no usable directory (no HOME, read-only home),
 *   or any error reading or writing it: the command runs without a cache,
 *   identically, and says nothing.
 * Files are written whole under a temporary name and renamed into place.
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { codeCacheDir, codeCacheDisabled } from './config.js';
import { blockChecksum } from './util/block-checksum.js';
import { privateCacheDir } from './util/private-cache.js';

/** The code cache file of one bundle, and the header naming what its code was made from. */
interface CacheSlot {
  file: string;
  key: string;
}

const MAGIC = 'qubes-dom0-tools V8 code cache 2';

/** FNV-1a of a short string, as 8 hex digits: tells apart bundles of the same name at different paths. */
function pathTag(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * A cache file: one line of text, `MAGIC KEY CHECKSUM`, padded with spaces
 * to a multiple of 8 bytes (the data then starts aligned for the checksum),
 * then the V8 data. The checksum (util/block-checksum.ts) is there because V8 checks
 * a cache's version, flags and length, not its bytes, and crashes on
 * corrupt ones, every run, where this makes the launcher compile from
 * source instead.
 */
function headerLine(key: string, sum: string): Buffer {
  const line = `${MAGIC} ${key} ${sum}`;
  return Buffer.from(`${line.padEnd(Math.ceil((line.length + 1) / 8) * 8 - 1)}\n`, 'utf8');
}

function cacheSlot(bundle: string, st: fs.BigIntStats): CacheSlot | undefined {
  const dir = codeCacheDir(process.env);
  if (!dir || !privateCacheDir(dir)) return undefined;
  const name = path.basename(bundle, '.cjs');
  const identity = [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
  // The path is the last word: bundle paths have no newline (they come from the shims' directory).
  return { file: path.join(dir, `${name}-${pathTag(bundle)}.v8cache`), key: `${process.version} ${process.arch} ${identity} ${bundle}` };
}

/** The V8 data of a cache file made for exactly this key and intact, else undefined. */
function readCache(slot: CacheSlot): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(slot.file);
  } catch {
    return undefined;
  }
  const end = data.indexOf(10);
  if (end < 0 || (end + 1) % 8 !== 0) return undefined;
  const line = data.toString('utf8', 0, end).trimEnd();
  const prefix = `${MAGIC} ${slot.key} `;
  if (!line.startsWith(prefix)) return undefined;
  const v8data = data.subarray(end + 1);
  return v8data.length > 0 && blockChecksum(v8data) === line.slice(prefix.length) ? v8data : undefined;
}

/** Written whole and synced under a temporary name, then renamed: a cache file is complete or absent. */
function writeCache(slot: CacheSlot, data: Buffer): void {
  const tmp = `${slot.file}.${process.pid}.tmp`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o600);
    fs.writeFileSync(fd, Buffer.concat([headerLine(slot.key, blockChecksum(data)), data]));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, slot.file);
  } catch {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing more to clean
    }
  }
}

/** Read the bundle and its identity from one descriptor (what is compiled is what was identified). */
function readBundle(file: string): { source: string; st: fs.BigIntStats } {
  const fd = fs.openSync(file, 'r');
  try {
    return { st: fs.fstatSync(fd, { bigint: true }), source: fs.readFileSync(fd, 'utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Run a CommonJS bundle as Node would (`require(file)`), compiled with the
 * code cache when there is a usable one.
 */
export function launch(bundleFile: string): void {
  const file = path.resolve(bundleFile);
  const { source, st } = readBundle(file);
  const slot = codeCacheDisabled(process.env) ? undefined : cacheSlot(file, st);
  const cachedData = slot && readCache(slot);
  // The wrapper of Node's CommonJS loader, so the bundle sees what `require(file)` would give it.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  if (slot && (cachedData === undefined || script.cachedDataRejected)) {
    // At exit: the cache then holds every function this run compiled, not only the top level.
    process.once('exit', () => writeCache(slot, script.createCachedData()));
  }
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const mod = { exports: {} };
  // The bundle requires only Node's built-in modules, and lives beside this launcher:
  // this module's own require() resolves for it as createRequire(file) would (without loading node:module).
  wrapper.call(mod.exports, mod.exports, require, mod, file, path.dirname(file));
}
