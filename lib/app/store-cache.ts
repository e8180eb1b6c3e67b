// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The parsed-store cache: the raw records of the qubes.xml last read
 * (qubes-xml-raw.ts), kept as JSON, so that the next command reading the
 * same bytes parses JSON (native, ~10x faster) instead of scanning XML
 * (issue 17: qvm-ls over 1004 qubes).
 *
 * What is cached is a pure function of the file's bytes: the scanner's
 * records, before anything is interpreted. Every check and migration of
 * loading runs on them as on freshly scanned ones, so the cache cannot
 * change what a command sees or refuses, only how fast it gets there.
 *
 * Never a stale store: the bytes of qubes.xml are read on every load
 * anyway (under the lock for writers); an entry is used only when it was
 * made from a file of the same identity (device, inode, size, modification
 * and change times) and the same SHA-256 of its bytes, by the same version
 * of the records' format. The entry itself carries a SHA-256 of its JSON;
 * anything else (another file, a torn or edited entry, a file or directory
 * someone else could write: lib/util/private-cache.ts) and the store is
 * scanned as if there were no cache.
 *
 * One entry per user (the store last read): a dom0 has one qubes.xml, and
 * the test suite's thousands of temporary stores then leave one file.
 * Where: lib/config.ts storeCacheDir; `QUBES_NO_STORE_CACHE=1` disables.
 */
import crypto from 'node:crypto';
import type fs from 'node:fs';
import path from 'node:path';
import { privateCacheDir, readPrivateFile, writePrivateFile } from '../util/private-cache.js';
import type { RawStore } from './qubes-xml-raw.js';

/**
 * The format of an entry. Bump the number whenever RawStore's shape or what
 * RawStoreReader records changes: an entry of another format is never read.
 */
const FORMAT = 'qubes-dom0-tools parsed store 1';

const FILE_NAME = 'qubes-xml.json';

const sha256 = (data: Uint8Array | string): string => crypto.hash('sha256', data);

/** What an entry must have been made from: the file's identity and the SHA-256 of its bytes. */
export function storeCacheKey(bytes: Uint8Array, st: fs.Stats): string {
  return [st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs, sha256(bytes)].join(':');
}

export class StoreCache {
  private constructor(private readonly file: string) {}

  /** The cache in `dir`, when it is usable (lib/util/private-cache.ts); undefined otherwise. */
  static open(dir: string | undefined): StoreCache | undefined {
    return dir !== undefined && privateCacheDir(dir) ? new StoreCache(path.join(dir, FILE_NAME)) : undefined;
  }

  /** The records cached for exactly `key`, intact; undefined on any doubt. */
  get(key: string): RawStore | undefined {
    const data = readPrivateFile(this.file);
    if (!data) return undefined;
    const end = data.indexOf(10);
    if (end < 0) return undefined;
    // `FORMAT KEY SUM`: the key has no space, the sum is the last word
    const header = data.toString('latin1', 0, end);
    const prefix = `${FORMAT} ${key} `;
    if (!header.startsWith(prefix)) return undefined;
    const json = data.subarray(end + 1);
    if (sha256(json) !== header.slice(prefix.length)) return undefined;
    try {
      const raw = JSON.parse(json.toString('utf8')) as RawStore;
      return raw !== null && typeof raw === 'object' && Array.isArray(raw.domains) ? raw : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keep `raw` as the records of `key` (before loading takes them over: the qubes keep parts of them). */
  put(key: string, raw: RawStore): void {
    const json = JSON.stringify(raw);
    writePrivateFile(this.file, `${FORMAT} ${key} ${sha256(json)}\n${json}`);
  }
}
