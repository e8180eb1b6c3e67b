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
 * anyway (under the lock for writers). An entry holds the bytes it was made
 * from, and is used only when they are exactly the bytes just read (a
 * native comparison, ~0.2 ms for 1.3 MB; no hash to collide), the file's
 * identity (device, inode, size, modification and change times) is the
 * one it was made from, and the records' format is this version's.
 *
 * Intact: the JSON is kept twice, and used only when both copies are
 * equal, for the same reason: a native comparison detects a corrupt entry
 * where a checksum of 1 MB in JavaScript took 15-60 ms at start-up and
 * loading node:crypto for SHA-256 longer than the scan the cache saves.
 * An entry cut short fails its lengths. Anything else (another file, a
 * torn or edited entry, a file or directory someone else could write:
 * lib/util/private-cache.ts) and the store is scanned as if there were
 * no cache.
 *
 * One entry per user (the store last read): a dom0 has one qubes.xml, and
 * the test suite's thousands of temporary stores then leave one file.
 * Where: lib/config.ts storeCacheDir; `QUBES_NO_STORE_CACHE=1` disables.
 */
import type fs from 'node:fs';
import path from 'node:path';
import { privateCacheDir, readPrivateFile, writePrivateFile } from '../util/private-cache.js';
import type { RawStore } from './qubes-xml-raw.js';

/**
 * The format of an entry. Bump the number whenever RawStore's shape or what
 * RawStoreReader records changes: an entry of another format is never read.
 */
const FORMAT = 'qubes-dom0-tools parsed store 2';

const FILE_NAME = 'qubes-xml.json';

/** The file's identity: an entry is used only for the file it was made from, unchanged. */
const identity = (st: fs.Stats): string => [st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs].join(':');

/**
 * An entry: one line `FORMAT IDENTITY XML_LENGTH JSON_LENGTH`, then the
 * store's bytes, then the records' JSON (ASCII only), twice.
 */
export class StoreCache {
  private constructor(private readonly file: string) {}

  /** The cache in `dir`, when it is usable (lib/util/private-cache.ts); undefined otherwise. */
  static open(dir: string | undefined): StoreCache | undefined {
    return dir !== undefined && privateCacheDir(dir) ? new StoreCache(path.join(dir, FILE_NAME)) : undefined;
  }

  /** The records cached for exactly these bytes of this file, intact; undefined on any doubt. */
  get(bytes: Uint8Array, st: fs.Stats): RawStore | undefined {
    const prefix = `${FORMAT} ${identity(st)} ${bytes.length} `;
    const headerOf = (b: Buffer): string | undefined => {
      const end = b.indexOf(10);
      return end < 0 ? undefined : b.toString('latin1', 0, end);
    };
    const data = readPrivateFile(this.file, (head) => headerOf(head)?.startsWith(prefix) === true);
    const header = data && headerOf(data);
    if (!data || header === undefined || !header.startsWith(prefix)) return undefined;
    const end = header.length;
    const jsonLength = Number(header.slice(prefix.length));
    const xmlStart = end + 1;
    const jsonStart = xmlStart + bytes.length;
    if (!Number.isSafeInteger(jsonLength) || data.length !== jsonStart + 2 * jsonLength) return undefined;
    if (!data.subarray(xmlStart, jsonStart).equals(bytes)) return undefined;
    const json = data.subarray(jsonStart, jsonStart + jsonLength);
    if (!json.equals(data.subarray(jsonStart + jsonLength))) return undefined;
    try {
      // ASCII (see put): read as one byte per character, without UTF-8 decoding
      const raw = JSON.parse(json.toString('latin1')) as RawStore;
      return raw !== null && typeof raw === 'object' && Array.isArray(raw.domains) ? raw : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keep `raw` as the records of these bytes of this file (before loading takes them over: the qubes keep parts of them). */
  put(bytes: Uint8Array, st: fs.Stats, raw: RawStore): void {
    // Every character beyond ASCII escaped (\uXXXX, valid JSON), so that the
    // reader makes its string from the bytes as they are (latin1) instead of
    // decoding UTF-8: a third of the time a hit took on 1004 qubes.
    const json = Buffer.from(JSON.stringify(raw).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), 'latin1');
    const header = Buffer.from(`${FORMAT} ${identity(st)} ${bytes.length} ${json.length}\n`, 'latin1');
    writePrivateFile(this.file, Buffer.concat([header, bytes, json, json]));
  }
}
