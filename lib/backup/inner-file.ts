// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One file of a backup after its chunks are authenticated: the chunks'
 * data concatenated, decrypted (format 3: one openssl aes-256-cbc stream,
 * key and IV from EVP_BytesToKey with MD5), decompressed, and read as a
 * tar archive whose members go to handlers by name.
 *
 * One completeness rule for every format: the inner archive of a file
 * holds exactly that file, as a regular file, and nothing else (an empty
 * archive, another name, a `../` member, a link or a device is an error).
 * The one exception is a format 3 directory archive (`vmN/.`, how R2/R3
 * stored templates): it holds the qube's whole directory, so other members
 * are allowed and skipped, but only inside that directory and without
 * `..`; the files used from it must still be regular files. Whether every
 * volume of a qube arrived is checked by the restore at the end (a
 * directory archive may or may not hold a given file).
 * Reference: qubesadmin/backup/restore.py ExtractWorker3; spec §3.1, §4.8.
 */
import crypto from 'node:crypto';
import { BackupError } from '../errors.js';
import { ByteSource } from './byte-source.js';
import { Channel } from './channel.js';
import { decompress } from './compression.js';
import { TarReader, type TarEntry } from './tar-reader.js';

/** What is done with one member of an inner archive. */
export interface MemberHandler {
  /** Called with the member's header; returns where its data goes. */
  open(entry: TarEntry): Promise<MemberSink>;
}

export interface MemberSink {
  /** Data at an offset of the file (sparse extents arrive in order). */
  write(data: Buffer, offset: number): Promise<void> | void;
  /** All data arrived. */
  close(): Promise<void> | void;
  /** Something failed: drop what was written. */
  abort(): Promise<void> | void;
}

/** EVP_BytesToKey(MD5, 1 iteration): what `openssl enc -md MD5 -pass` derives. */
function bytesToKey(pass: Buffer, salt: Buffer, keyLen: number, ivLen: number): { key: Buffer; iv: Buffer } {
  let d = Buffer.alloc(0);
  let out = Buffer.alloc(0);
  while (out.length < keyLen + ivLen) {
    d = crypto.createHash('md5').update(Buffer.concat([d, pass, salt])).digest();
    out = Buffer.concat([out, d]);
  }
  return { key: out.subarray(0, keyLen), iv: out.subarray(keyLen, keyLen + ivLen) };
}

/** `openssl enc -d -aes-256-cbc -md MD5 -pass pass:P` over a stream (`Salted__` + salt + ciphertext). */
export async function* opensslDecrypt(input: AsyncIterable<Buffer>, passphrase: string, what: string): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  let decipher: crypto.Decipher | undefined;
  try {
    for await (const b of input) {
      if (!decipher) {
        head = Buffer.concat([head, b]);
        if (head.length < 16) continue;
        if (head.subarray(0, 8).toString('latin1') !== 'Salted__') throw new BackupError(`${what}: not an openssl-encrypted stream`);
        const { key, iv } = bytesToKey(Buffer.from(passphrase, 'utf8'), head.subarray(8, 16), 32, 16);
        decipher = crypto.createDecipheriv('aes-256-cbc', key, iv);
        const rest = head.subarray(16);
        if (rest.length) yield decipher.update(rest);
        continue;
      }
      yield decipher.update(b);
    }
    if (!decipher) throw new BackupError(`${what}: encrypted stream too short`);
    yield decipher.final();
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${what}: decryption failed: ${(e as Error).message}`);
  }
}

export interface InnerFileOptions {
  base: string;
  compression: string | null;
  /** Format 3 encrypted backups: the passphrase for openssl. */
  opensslPassphrase?: string;
  /** Handler for a member name (normalized: `/./` removed), or undefined for a member not used. */
  handler(name: string): MemberHandler | undefined;
  /**
   * Format 3 directory archive: members inside this directory (`vm9/`)
   * that have no handler are allowed and skipped. Otherwise the archive
   * must hold exactly the member named `base`.
   */
  directory?: string;
  /** Cancels reading (the caller's restore was interrupted). */
  signal?: AbortSignal;
}

/**
 * Work on one file's authenticated chunks running beside the archive
 * reader: push() each chunk's data, then end() waits for the work to
 * finish (and rethrows its error); fail() stops it.
 */
export abstract class ChunkConsumer {
  protected readonly chan = new Channel<Buffer>(2);
  private task: Promise<void> = Promise.resolve();

  protected start(task: Promise<void>): void {
    this.task = task;
    // a failed consumer no longer reads: make the next push fail instead of waiting forever
    task.catch((e) => this.chan.fail(e));
  }

  async push(data: Buffer): Promise<void> {
    await this.chan.push(data);
  }

  async end(): Promise<void> {
    this.chan.close();
    await this.task;
  }

  fail(e: unknown): Promise<void> {
    this.chan.fail(e);
    return this.task.catch(() => {});
  }
}

/** Extraction of an inner archive's members to their handlers; end() also checks that the file itself arrived. */
export class InnerFile extends ChunkConsumer {
  private readonly found = new Set<string>();

  constructor(private readonly o: InnerFileOptions) {
    super();
    this.start(this.run());
  }

  private async run(): Promise<void> {
    const what = `inner archive of ${this.o.base}`;
    let stream: AsyncIterable<Buffer> = this.chan;
    if (this.o.opensslPassphrase !== undefined) stream = opensslDecrypt(stream, this.o.opensslPassphrase, what);
    stream = decompress(this.o.compression, stream, what);
    const src = new ByteSource(stream, this.o.signal);
    const reader = new TarReader(src, { what });
    try {
      for (let e; (e = await reader.next()); ) {
        const name = e.name.replace(/\/\.\//g, '/').replace(/\/$/, '');
        const h = this.memberHandler(e, name, what);
        if (!h) continue;
        if (this.found.has(name)) throw new BackupError(`Member ${e.name} appears twice in ${what}`);
        this.found.add(name);
        await this.copy(reader, e, await h.open(e));
      }
      // the rest (tar record padding) must be zeros; reading it also lets the decompressor check its trailer
      for (;;) {
        const b = await src.read(64 * 1024);
        if (b.length === 0) break;
        if (b.some((x) => x !== 0)) throw new BackupError(`Unexpected data after the end of ${what}`);
      }
    } catch (e) {
      await src.close().catch(() => {});
      throw e;
    }
    if (this.o.directory === undefined && !this.found.has(this.o.base)) throw new BackupError(`${this.o.base} missing from ${what}`);
  }

  /** The handler of a member, undefined for one skipped; an error for anything this archive must not hold. */
  private memberHandler(e: TarEntry, name: string, what: string): MemberHandler | undefined {
    const dir = this.o.directory;
    const inside = dir === undefined ? name === this.o.base : `${name}/`.startsWith(dir) && !name.slice(dir.length).split('/').includes('..');
    if (!inside) throw new BackupError(`Unexpected member ${e.name} in ${what}`);
    const h = this.o.handler(name);
    if (h && e.type !== '0' && e.type !== '7') throw new BackupError(`Member ${e.name} in ${what} is not a regular file`);
    if (!h && dir === undefined) throw new BackupError(`Unexpected member ${e.name} in ${what}`);
    return h;
  }

  private async copy(reader: TarReader, e: TarEntry, sink: MemberSink): Promise<void> {
    try {
      if (e.sparse) {
        const extents = e.sparse.filter(([, l]) => l > 0);
        let i = 0;
        let at = 0;
        for await (let piece of reader.body(4 * 1024 * 1024)) {
          while (piece.length) {
            const ext = extents[i];
            if (!ext) throw new BackupError(`${e.name}: more data than its sparse map says`);
            const take = Math.min(piece.length, ext[1] - at);
            await sink.write(piece.subarray(0, take), ext[0] + at);
            at += take;
            piece = piece.subarray(take);
            if (at === ext[1]) {
              i++;
              at = 0;
            }
          }
        }
      } else {
        let at = 0;
        for await (const piece of reader.body(4 * 1024 * 1024)) {
          await sink.write(piece, at);
          at += piece.length;
        }
      }
      await sink.close();
    } catch (err) {
      await sink.abort();
      throw err;
    }
  }
}
