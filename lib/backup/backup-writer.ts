// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Writing a format-4 backup: header, header.hmac, qubes.xml, then each
 * file of each qube as an inner tar, compressed, cut into chunks, each
 * chunk an scrypt container keyed by `<backup-id>!<name>!<passphrase>`
 * and written as its own outer tar archive (spec backup.md §2).
 *
 * Every chunk costs one key derivation (N=2^20: 1 GiB of memory and
 * seconds of one core), so chunks are large: 1 GiB and 4 MiB by default for a file
 * (the format leaves the size to the writer; the reference's restore
 * stages one chunk at a time in its temporary directory). Two loops run
 * side by side: the producer reads the volumes, builds the inner tar and
 * compresses (on the thread pool), cutting the stream into chunks; the
 * writer encrypts and writes each piece as it comes. A chunk's outer tar
 * header is written with the full chunk size and rewritten in place once
 * a short last chunk ends, so no chunk is held in memory. Standard output
 * cannot be rewritten: there a chunk (at most 100 MiB) is held until it
 * ends. Key derivations run on the thread pool ahead of need, as many at
 * once as memory allows (kdf-memory.ts: one with the written parameters),
 * so derivation, compression and encryption overlap on two cores. To a
 * file the first data chunk's key is derived first, and the header's and
 * qubes.xml's while that chunk's data flows: their members (small, sizes
 * known) are written as zeros first and rewritten in place at the end.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupCancelledError, BackupError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import type { BackupFile, QubeContent } from './backup-content.js';
import { serializeHeader } from './backup-header.js';
import { Channel } from './channel.js';
import { abortable, cancelError } from './run-control.js';
import { compress, throughProgram } from './compression.js';
import { chunkPassword, headerPassword, newKeys, ScryptEncryptor, SCRYPT_OVERHEAD, WRITE_PARAMS, type KdfParams, type ScryptKeys } from './scrypt-container.js';
import type { Sink } from './sink.js';
import { dataExtents } from './data-extents.js';
import { outerMember, outerMemberHead, outerMemberTail, smallFileTar, sparseImageTar } from './tar-writer.js';

/**
 * The chunk size written to a file: one key derivation per GiB of volume.
 * 1 GiB and 4 MiB, not 1 GiB: a 1 GiB volume of data that does not
 * compress comes out a few hundred KiB longer (the inner tar's headers and
 * padding, the gzip members' and stored blocks' framing), and an exact
 * 1 GiB would cut that tail into a chunk of its own, one whole key
 * derivation more (seconds) for a few KiB.
 */
export const CHUNK_SIZE = 1024 ** 3 + 4 * 1024 ** 2;
/** The chunk size written to standard output, where each chunk is held in memory; the largest allowed there. */
export const STREAM_CHUNK_SIZE = 100 * 1024 ** 2;
/** The largest chunk size (the reference's restore stages a chunk and its decryption side by side). */
export const MAX_CHUNK_SIZE = 4 * 1024 ** 3;
/** The smallest chunk size a user may choose (the reference's restore limits the number of files to about one per 100 MB). */
export const MIN_CHUNK_SIZE = 100 * 1024 ** 2;

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
  /** Bytes of compressed data per chunk (default CHUNK_SIZE, STREAM_CHUNK_SIZE on standard output). */
  chunkSize?: number;
  /**
   * A partial archive may be kept (--keep-partial): then the header's and
   * qubes.xml's members are written in order, complete, before the data,
   * so that what is kept can be read; otherwise they may come last (below).
   */
  keepPartial?: boolean;
}

/**
 * The chunk size of a backup: `asked`, or the default for the destination.
 * @throws BackupError for more than STREAM_CHUNK_SIZE to a destination that cannot be rewritten
 */
export function chunkSizeFor(asked: number | undefined, seekable: boolean): number {
  if (!seekable && asked !== undefined && asked > STREAM_CHUNK_SIZE)
    throw new BackupError(`A chunk size above ${STREAM_CHUNK_SIZE / 1024 ** 2} MiB needs a file as the destination: on standard output each chunk is held in memory`);
  return asked ?? (seekable ? CHUNK_SIZE : STREAM_CHUNK_SIZE);
}

/** The chunk suffix: `%03d`, growing past 999. */
export const chunkIndex = (i: number): string => String(i).padStart(3, '0');

/** What the producer hands the writer: a chunk begins, a piece of its data, the chunk ends. */
type Piece = { start: string } | { data: Buffer } | { end: true };

/** Keys for chunk names, derived through the process's derivation gate in the order asked. */
class KeyCache {
  private readonly keys = new Map<string, Promise<ScryptKeys>>();

  constructor(
    private readonly password: (name: string) => string,
    private readonly params: KdfParams,
  ) {}

  ensure(name: string): void {
    if (!this.keys.has(name)) {
      const p = newKeys(this.password(name), this.params);
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
  const seekable = o.sink.seekable;
  const chunkSize = chunkSizeFor(o.chunkSize, seekable);
  const keys = new KeyCache((name) => (name === 'backup-header' ? headerPassword(o.passphrase) : chunkPassword(o.backupId, name, o.passphrase)), params);
  const files = o.content.flatMap((q) => q.files);
  const chunkName = (member: string, i: number) => `${member}.${chunkIndex(i)}`;
  // to a file the first data chunk's key comes first: the header's and qubes.xml's are derived
  // while that chunk is compressed and written (their members are written as placeholders of their
  // exact size and rewritten at the end), so only one derivation's time passes before data flows
  const late = seekable && o.keepPartial !== true;
  if (late && files[0]) keys.ensure(chunkName(files[0].member, 0));
  keys.ensure('backup-header');
  keys.ensure('qubes.xml.000');
  if (files[0]) keys.ensure(chunkName(files[0].member, 0));
  const header = serializeHeader({ compressed: o.compression !== null, compressionFilter: o.compression ?? 'gzip', backupId: o.backupId });
  const now = Date.now();
  // pieces of up to 4 MiB (compressed blocks): a few in flight
  const chan = new Channel<Piece>(8);
  let done = 0;
  const count = (n: number) => {
    done += n;
    o.onProgress?.(done);
  };

  const writer = (async () => {
    try {
      /** Small members written as placeholders, encrypted and rewritten in place once their keys come (`late`). */
      const deferred: { key: string; name: string; plain: Buffer; at: number; mtime: number }[] = [];
      const container = async (key: string, plain: Buffer) => {
        const e = new ScryptEncryptor(await abortable(keys.take(key), o.signal, 'Backup'));
        return Buffer.concat([e.header(), e.update(plain), e.final()]);
      };
      /** A small member encrypted under `key`: now, or (late) as a placeholder of its size for now. */
      const small = async (key: string, name: string, plain: Buffer, mtime: number) => {
        if (late) {
          deferred.push({ key, name, plain, at: o.sink.bytes, mtime });
          await o.sink.write(outerMember(name, Buffer.alloc(plain.length + SCRYPT_OVERHEAD), mtime));
        } else await o.sink.write(outerMember(name, await container(key, plain), mtime));
      };
      await o.sink.write(outerMember('backup-header', header, now));
      await small('backup-header', 'backup-header.hmac', header, now);
      let chunk: { name: string; enc?: ScryptEncryptor; at: number; mtime: number; size: number; held: Buffer[] } | undefined;
      for await (const piece of chan) {
        cancelled(o.signal);
        if ('start' in piece) {
          chunk = { name: `${piece.start}.enc`, at: o.sink.bytes, mtime: Date.now(), size: 0, held: [] };
          // qubes.xml (in memory anyway) waits for its key with the header's
          if (late && piece.start.startsWith('qubes.xml.')) continue;
          const enc = new ScryptEncryptor(await abortable(keys.take(piece.start), o.signal, 'Backup'));
          cancelled(o.signal);
          chunk.enc = enc;
          // a full chunk's header: rewritten below if the chunk ends short
          if (seekable) await o.sink.write(Buffer.concat([outerMemberHead(chunk.name, chunkSize + SCRYPT_OVERHEAD, chunk.mtime), enc.header()]));
        } else if ('data' in piece) {
          const c = chunk as NonNullable<typeof chunk>;
          c.size += piece.data.length;
          if (seekable && c.enc) await o.sink.write(c.enc.update(piece.data));
          else c.held.push(piece.data);
        } else {
          const c = chunk as NonNullable<typeof chunk>;
          chunk = undefined;
          if (!c.enc) {
            await small(c.name.slice(0, -4), c.name, Buffer.concat(c.held), c.mtime);
            continue;
          }
          const total = c.size + SCRYPT_OVERHEAD;
          if (!seekable) {
            await o.sink.write(Buffer.concat([outerMemberHead(c.name, total, c.mtime), c.enc.header()]));
            while (c.held.length) {
              await o.sink.write(c.enc.update(c.held.shift() as Buffer));
              cancelled(o.signal);
            }
          }
          await o.sink.write(Buffer.concat([c.enc.final(), outerMemberTail(c.name, total)]));
          if (seekable && c.size !== chunkSize) await o.sink.rewrite(outerMemberHead(c.name, total, c.mtime), c.at);
        }
      }
      for (const d of deferred) await o.sink.rewrite(outerMember(d.name, await container(d.key, d.plain), d.mtime), d.at);
    } catch (e) {
      chan.fail(e);
      throw e;
    }
  })();

  /**
   * Cut one file's compressed stream into chunks of `chunkSize` bytes, the
   * last one shorter (empty after a stream of exactly N chunks: spec §2.6).
   * The key of the chunk likely to come next is asked for as soon as the
   * current one begins (derivations take longer than a chunk's data):
   * the file's next chunk while its bytes left to read fill a chunk,
   * else the next file's first (a key asked for in vain would hold the
   * derivation gate, and the process, for its whole time).
   */
  const chunkFile = async (member: string, stream: AsyncIterable<Buffer>, left: () => number, next?: string) => {
    let index = 0;
    let have = 0;
    const begin = async () => {
      const ahead = left() >= chunkSize ? chunkName(member, index + 1) : next;
      if (ahead !== undefined) keys.ensure(ahead);
      await chan.push({ start: chunkName(member, index) });
    };
    await begin();
    for await (const buf of stream) {
      let b = buf;
      while (b.length) {
        if (have === chunkSize) {
          await chan.push({ end: true });
          index++;
          have = 0;
          await begin();
        }
        const take = Math.min(b.length, chunkSize - have);
        await chan.push({ data: b.subarray(0, take) });
        have += take;
        b = b.subarray(take);
        cancelled(o.signal);
        if (have >= chunkSize * 0.9) keys.ensure(chunkName(member, index + 1));
      }
    }
    await chan.push({ end: true });
    if (have === chunkSize) {
      index++;
      await begin();
      await chan.push({ end: true });
    }
  };

  const producer = (async () => {
    try {
      const xml = smallFileTar('qubes.xml', o.qubesXml, 0o660, now);
      await chunkFile('qubes.xml', compress(o.compression, (async function* () { yield xml; })()), () => 0, files[0] && chunkName(files[0].member, 0));
      for (const [i, f] of files.entries()) {
        cancelled(o.signal);
        let read = 0;
        const next = files[i + 1];
        await chunkFile(f.member, compress(o.compression, innerTar(f, (n) => ((read += n), count(n)))), () => f.estimate - read, next && chunkName(next.member, 0));
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
