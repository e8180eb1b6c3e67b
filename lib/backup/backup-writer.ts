// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Writing a format-4 backup: header, header.hmac, qubes.xml, then each
 * file of each qube as an inner tar, compressed, cut into 100 MiB chunks,
 * each chunk an scrypt container keyed by `<backup-id>!<name>!<passphrase>`
 * and written as its own outer tar archive (spec backup.md §2).
 *
 * Two loops run side by side: the producer reads the volumes, builds the
 * inner tar and compresses (compression on the thread pool), cutting
 * chunks into memory; the writer encrypts and writes them in order. Key
 * derivations (the cost of every chunk: ~3 s of one core) run on the
 * thread pool ahead of need, up to one per core, so derivation,
 * compression and encryption overlap. At most three chunks are held in
 * memory and no temporary files are used, so memory and disk stay bounded
 * whatever the backup size.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupCancelledError, BackupError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import type { BackupFile, QubeContent } from './backup-content.js';
import { serializeHeader } from './backup-header.js';
import { Channel, Limiter, regroup } from './channel.js';
import { abortable, cancelError } from './run-control.js';
import { compress, throughProgram } from './compression.js';
import { chunkPassword, headerPassword, kdfParallelism, newKeys, ScryptEncryptor, SCRYPT_OVERHEAD, WRITE_PARAMS, type KdfParams, type ScryptKeys } from './scrypt-container.js';
import type { Sink } from './sink.js';
import { dataExtents } from './data-extents.js';
import { outerMember, outerMemberHead, outerMemberTail, smallFileTar, sparseImageTar } from './tar-writer.js';

export const CHUNK_SIZE = 100 * 1024 * 1024;

export interface WriteOptions {
  passphrase: string;
  /** Program compressing the inner streams; null: none. */
  compression: string | null;
  backupId: string;
  qubesXml: Buffer;
  content: QubeContent[];
  sink: Sink;
  signal?: AbortSignal;
  /** Bytes of file data read so far (progress). */
  onProgress?: (done: number) => void;
  kdf?: KdfParams;
  /** Test hook (QUBES_BACKUP_CHUNK_SIZE): chunk naming past .999 without 100 GB of data. */
  chunkSize?: number;
}

/** The chunk suffix: `%03d`, growing past 999. */
export const chunkIndex = (i: number): string => String(i).padStart(3, '0');

interface Chunk {
  name: string;
  parts: Buffer[];
  size: number;
}

/** Keys for chunk names, derived on the thread pool at most `limit` at a time, in the order asked. */
class KeyCache {
  private readonly keys = new Map<string, Promise<ScryptKeys>>();
  private readonly limiter: Limiter;

  constructor(
    private readonly password: (name: string) => string,
    private readonly params: KdfParams,
  ) {
    this.limiter = new Limiter(kdfParallelism(params));
  }

  ensure(name: string): void {
    if (!this.keys.has(name)) {
      const p = this.limiter.run(() => newKeys(this.password(name), this.params));
      p.catch(() => {});
      this.keys.set(name, p);
    }
  }

  take(name: string): Promise<ScryptKeys> {
    this.ensure(name);
    const p = this.keys.get(name) as Promise<ScryptKeys>;
    this.keys.delete(name);
    return p;
  }
}

function cancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelError(signal, 'Backup');
}

/** The inner tar stream of one file (before compression). */
async function* innerTar(f: BackupFile, count: (n: number) => void): AsyncGenerator<Buffer> {
  const src = f.source;
  if (src.kind === 'empty') {
    yield smallFileTar(f.member, Buffer.alloc(0), 0o644, Date.now());
  } else if (src.kind === 'file') {
    let data: Buffer;
    let st: fs.Stats;
    try {
      data = fs.readFileSync(src.path);
      st = fs.statSync(src.path);
    } catch (e) {
      throw new BackupError(`Cannot read ${src.path}: ${ioReason(e)}`);
    }
    count(data.length);
    yield smallFileTar(f.member, data, st.mode & 0o7777, st.mtimeMs);
  } else if (src.kind === 'image') {
    const { pool, volume } = src;
    const file = await pool.export(volume);
    try {
      const size = await pool.size(volume);
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch (e) {
        throw new BackupError(`Cannot read volume ${volume.vid}: ${ioReason(e)}`);
      }
      try {
        for await (const b of sparseImageTar(fd, size, f.member, await dataExtents(file, size))) {
          count(b.length);
          yield b;
        }
      } catch (e) {
        if (e instanceof BackupError) throw e;
        throw new BackupError(`Cannot read volume ${volume.vid}: ${(e as Error).message}`);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      await pool.exportEnd(volume, file);
    }
  } else {
    const parent = path.dirname(src.path);
    const base = path.basename(src.path);
    const args = ['-c', '--sparse', '-C', parent, `--xform=s:^${base.replace(/[\\:&]/g, '\\$&')}:${f.member}:`, '--', base];
    for await (const b of throughProgram('tar', args, (async function* () {})(), `Archiving ${src.path}`)) {
      count(b.length);
      yield b;
    }
  }
}

/** Write a whole backup. On error or cancel the caller aborts the sink. */
export async function writeBackup(o: WriteOptions): Promise<void> {
  const params = o.kdf ?? WRITE_PARAMS;
  const chunkSize = o.chunkSize ?? CHUNK_SIZE;
  const keys = new KeyCache((name) => (name === 'backup-header' ? headerPassword(o.passphrase) : chunkPassword(o.backupId, name, o.passphrase)), params);
  keys.ensure('backup-header');
  keys.ensure('qubes.xml.000');
  const header = serializeHeader({ compressed: o.compression !== null, compressionFilter: o.compression ?? 'gzip', backupId: o.backupId });
  const now = Date.now();
  const chan = new Channel<Chunk>(1);
  let done = 0;
  const count = (n: number) => {
    done += n;
    o.onProgress?.(done);
  };

  const writer = (async () => {
    try {
      await o.sink.write(outerMember('backup-header', header, now));
      const hk = new ScryptEncryptor(await abortable(keys.take('backup-header'), o.signal, 'Backup'));
      await o.sink.write(outerMember('backup-header.hmac', Buffer.concat([hk.header(), hk.update(header), hk.final()]), now));
      for await (const c of chan) {
        cancelled(o.signal);
        const enc = new ScryptEncryptor(await abortable(keys.take(c.name.slice(0, -'.enc'.length)), o.signal, 'Backup'));
        cancelled(o.signal);
        const total = c.size + SCRYPT_OVERHEAD;
        await o.sink.write(outerMemberHead(c.name, total, Date.now()));
        await o.sink.write(enc.header());
        while (c.parts.length) {
          await o.sink.write(enc.update(c.parts.shift() as Buffer));
          cancelled(o.signal);
        }
        await o.sink.write(enc.final());
        await o.sink.write(outerMemberTail(c.name, total));
      }
    } catch (e) {
      chan.fail(e);
      throw e;
    }
  })();

  /** Cut one file's compressed stream into chunks; each chunk's key is asked for before it is needed. */
  const chunkFile = async (member: string, stream: AsyncIterable<Buffer>) => {
    const name = (i: number) => `${member}.${chunkIndex(i)}`;
    let index = 0;
    keys.ensure(name(0));
    const nextSoon = (have: number) => {
      cancelled(o.signal);
      if (have >= chunkSize * 0.9) keys.ensure(name(index + 1));
    };
    for await (const parts of regroup(stream, chunkSize, nextSoon)) {
      await chan.push({ name: `${name(index)}.enc`, parts, size: parts.reduce((s, p) => s + p.length, 0) });
      index++;
    }
  };

  const producer = (async () => {
    try {
      const xml = smallFileTar('qubes.xml', o.qubesXml, 0o660, now);
      await chunkFile('qubes.xml', compress(o.compression, (async function* () { yield xml; })()));
      for (const q of o.content) for (const f of q.files) {
        cancelled(o.signal);
        await chunkFile(f.member, compress(o.compression, innerTar(f, count)));
      }
      chan.close();
    } catch (e) {
      chan.fail(e);
      throw e;
    }
  })();
  const results = await Promise.allSettled([producer, writer]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const cancel = results.map((r) => (r.status === 'rejected' ? r.reason : undefined)).find((e) => e instanceof BackupCancelledError);
    throw cancel ?? failed.reason;
  }
}
