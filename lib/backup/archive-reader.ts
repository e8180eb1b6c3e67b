// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Reading a backup archive from a stream, trusting nothing before it is
 * authenticated:
 *
 * 1. `backup-header` and `backup-header.hmac` (each ≤ 4096 bytes) must be
 *    the first members; the header is authenticated (format 4: the .hmac is
 *    the scrypt encryption of the header under `backup-header!<pass>`;
 *    format 3: an HMAC hex digest) before any of it is parsed.
 * 2. qubes.xml is decrypted and authenticated before it is parsed.
 * 3. Every further member name must have the layout of §2.3: `<path><name>
 *    .<NNN>.enc` (format 3: `.<NNN>` with a `.hmac` partner), `<path>` a
 *    backup-path of the backup's qubes.xml, no absolute path, no `..`;
 *    only regular files. Chunks of one file must be consecutive from .000,
 *    each file once, and a file ends with a chunk shorter than its first
 *    (a full last chunk means its successor is missing).
 * 4. A chunk is decrypted only after the HMAC over the whole of it is
 *    checked, so no unauthenticated byte reaches a decompressor. Chunks
 *    are large (up to 4 GiB), so one beyond STAGE_IN_MEMORY is staged in
 *    a file of a temporary directory (as the reference's restore does),
 *    read once for the HMAC and once to decrypt, and removed.
 *
 * The archive is read one chunk ahead in the background: its key is
 * derived (as soon as its scrypt header is read) and it is staged while
 * the current chunk is authenticated, decrypted and consumed.
 * Reference: qubesadmin/backup/restore.py (ExtractWorker3, BackupRestore
 * _retrieve_backup_header, _verify_hmac); spec backup.md §4.2, §4.6, §4.8, §4.11.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BackupCancelledError, BackupError, KdfMemoryError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { processAlive, selfIdentity } from '../util/process-identity.js';
import { MAX_CHUNK_SIZE } from './backup-writer.js';
import { Channel } from './channel.js';
import { abortable } from './run-control.js';
import { parseHeader, type BackupHeader, type ParseOptions } from './backup-header.js';
import { ByteSource } from './byte-source.js';
import { BAD_PASSPHRASE, chunkPassword, containerParams, decryptBuffer, deriveKeys, headerPassword, NOT_SCRYPT, SCRYPT_HEADER, SCRYPT_OVERHEAD, type ScryptKeys } from './scrypt-container.js';
import { MAX_ZERO_RUN, TarReader, type TarEntry } from './tar-reader.js';

const HMAC_MAX = 4096;
/** Format 3 chunks (100 MiB, the reference's) are read into memory whole. */
const V3_CHUNK = 100 * 1024 * 1024;
const CHUNK_MAX = MAX_CHUNK_SIZE + SCRYPT_OVERHEAD;
/** A chunk up to this size is held in memory; a larger one is staged in a file. */
const STAGE_IN_MEMORY = 32 * 1024 * 1024;
/** Read and HMAC/decrypt block of a staged chunk. */
const BLOCK = 8 * 1024 * 1024;

export interface Chunk {
  /** The file the chunk belongs to, e.g. `vm12/private.img`. */
  base: string;
  index: number;
  /** The member name in the archive. */
  member: string;
  /** Authenticated content, to be read once (format 4: decrypted; format 3: still openssl-encrypted when the backup is). */
  parts: AsyncIterable<Buffer>;
}

/** What to do with a file of the backup: read it, or skip its chunks unread. */
export type Route = 'read' | 'skip';

export interface OpenOptions extends ParseOptions {
  maxKdfMemory?: number;
  /** Where a temporary directory for staged chunks is made (default: the system's). */
  stageIn?: string;
  /** Cancels waiting for key derivations. */
  signal?: AbortSignal;
}

/** openssl dgst digests tried for format 3 (the reference tries every one openssl lists). */
const V3_DIGESTS = ['sha512', 'sha256', 'sha1', 'sha384', 'sha224', 'md5'];

const CORRUPT_HEADER = 'Corrupted backup header (hmac verification failed). Is the password correct?';

/** The member name without chunk suffix and its index, or an error for anything else. */
export function splitChunkName(member: string, version: number): { base: string; index: number } {
  let name = member;
  if (version >= 4) {
    if (!name.endsWith('.enc')) throw new BackupError(`Invalid file extension found in archive: ${member}`);
    name = name.slice(0, -4);
  }
  const m = /^(.+)\.(\d{3,})$/.exec(name);
  if (!m || String(Number(m[2])).padStart(3, '0') !== m[2]) throw new BackupError(`Unexpected file in archive: ${member}`);
  return { base: m[1] as string, index: Number(m[2]) };
}

/** Member names must be relative, without `.`/`..` or empty components, in every format. */
export function checkMemberPath(member: string): void {
  if (member.startsWith('/')) throw new BackupError(`Refusing archive member with an absolute path: ${member}`);
  if (member.split('/').some((p) => p === '..' || p === '.' || p === ''))
    throw new BackupError(`Refusing archive member with '..' or an empty or '.' path component: ${member}`);
  if (/[\x00-\x1f\x7f\\]/.test(member)) throw new BackupError(`Refusing archive member with a control character: ${JSON.stringify(member)}`);
}

interface Pending {
  member: string;
  base: string;
  index: number;
  /** Format 3: the whole member; format 4: the scrypt header (96 bytes). */
  data: Buffer;
  /** Format 4: the rest of the container (data and HMAC), in memory or staged. */
  body?: { mem?: Buffer; file?: string; size: number };
  keys?: Promise<ScryptKeys>;
}

export class BackupArchive {
  header!: BackupHeader;
  /** The authenticated, decrypted and decompressed qubes.xml text is made by the caller from these chunks. */
  readonly qubesXmlChunks: Chunk[] = [];
  private entry: TarEntry | null = null;
  private readonly reader: TarReader;
  private current?: { base: string; index: number; firstSize: number; lastSize: number };
  private readonly finished = new Set<string>();
  /** Files with at least one chunk read or skipped. */
  readonly seen = new Set<string>();

  private constructor(
    private readonly src: ByteSource,
    private readonly passphrase: string,
    private readonly opts: OpenOptions,
  ) {
    this.reader = new TarReader(src, { ignoreZeros: true, what: 'backup archive' });
  }

  get version(): number {
    return this.header.version;
  }

  /** Read and authenticate the header, then qubes.xml's chunks. */
  static async open(input: AsyncIterable<Buffer>, passphrase: string, opts: OpenOptions = {}): Promise<BackupArchive> {
    const a = new BackupArchive(new ByteSource(input, opts.signal), passphrase, opts);
    await a.readHeader();
    await a.readQubesXml();
    return a;
  }

  /** Stop reading the input (closes a pipe so its writer gets an error instead of blocking). */
  close(): Promise<void> {
    this.unstage();
    return this.src.close();
  }

  private async member(expected: string, limit: number): Promise<Buffer> {
    const e = await this.reader.next();
    if (!e) {
      if (expected !== 'backup-header') throw new BackupError(`Premature end of backup archive: ${expected} missing`);
      if (this.reader.endedInZeros) throw new BackupError(`Not a Qubes backup: more than ${MAX_ZERO_RUN / 1024 / 1024} MiB of zero bytes where the backup-header should be`);
      throw new BackupError('Not a Qubes backup: the archive is empty');
    }
    if (e.name !== expected) {
      if (expected === 'backup-header') throw new BackupError(`Not a Qubes backup of format 3 or 4 (first member is ${e.name}, not backup-header); format 1 and 2 backups are not supported`);
      throw new BackupError(`unexpected files in archive: got [${e.name}], expected [${expected}]`);
    }
    if (e.type !== '0' && e.type !== '7') throw new BackupError(`${expected} is not a regular file in the archive`);
    if (e.storedSize > limit) throw new BackupError(`${expected} too large (${e.storedSize} bytes)`);
    return this.reader.readBody(limit);
  }

  private async readHeader(): Promise<void> {
    const header = await this.member('backup-header', HMAC_MAX);
    const hmac = await this.member('backup-header.hmac', HMAC_MAX);
    let scheme: 'scrypt' | 'hmac' | undefined;
    if (hmac.subarray(0, 6).toString('latin1') === 'scrypt') {
      try {
        const check = decryptBuffer(headerPassword(this.passphrase), hmac, this.opts.maxKdfMemory);
        check.catch(() => {});
        await this.prefetchQubesXml(header);
        const plain = await abortable(check, this.opts.signal, 'Restore');
        if (plain.equals(header)) scheme = 'scrypt';
      } catch (e) {
        if (!(e instanceof BackupError) || e instanceof BackupCancelledError || e instanceof KdfMemoryError) throw e;
      }
    } else if (hmac.every((b) => b < 0x80)) {
      const text = hmac.toString('ascii');
      const eq = text.indexOf('=');
      const digest = (eq >= 0 ? text.slice(eq + 1) : text).trim();
      for (const alg of V3_DIGESTS) {
        const mine = crypto.createHmac(alg, this.passphrase).update(header).digest('hex');
        if (mine.length === digest.length && crypto.timingSafeEqual(Buffer.from(mine), Buffer.from(digest))) {
          scheme = 'hmac';
          this.hmacAlgorithm = alg;
          break;
        }
      }
    }
    if (!scheme) throw new BackupError(CORRUPT_HEADER);
    const tentative = this.header?.backupId;
    this.header = parseHeader(header, this.opts);
    if ((this.header.version >= 4) !== (scheme === 'scrypt')) throw new BackupError(CORRUPT_HEADER);
    if (this.prefetchError !== undefined) throw this.prefetchError;
    const p = this.prefetched;
    if (p && tentative !== this.header.backupId) {
      p.keys = deriveKeys(chunkPassword(this.header.backupId as string, p.member.slice(0, -4), this.passphrase), Buffer.from(p.data.subarray(16, 48)), containerParams(p.data, this.opts.maxKdfMemory, SCRYPT_OVERHEAD));
      p.keys.catch(() => {});
    }
  }

  private prefetchError: unknown;

  /** qubes.xml.000.enc read, its key derived with the claimed backup-id, while the header is being checked. */
  private prefetched?: Pending;

  /**
   * Start deriving qubes.xml's key alongside the header's (saves one key
   * derivation's time). Nothing of the header is trusted: the claimed
   * backup-id only names a key; the chunk is decrypted after the header
   * is authenticated, and only if the authenticated id is the same.
   */
  private async prefetchQubesXml(header: Buffer): Promise<void> {
    const id = /^backup-id=([A-Za-z0-9][A-Za-z0-9-]*)$/m.exec(header.toString('latin1'))?.[1];
    if (!id) return;
    this.header = { version: 4, encrypted: true, compressed: false, compressionFilter: 'gzip', hmacAlgorithm: 'scrypt', backupId: id };
    try {
      this.prefetched = (await this.nextPending((base) => (base === 'qubes.xml' ? 'read' : 'stop'))) ?? undefined;
    } catch (e) {
      // reported once the header is authenticated (a wrong passphrase is reported first)
      this.prefetchError = e;
    }
  }

  private hmacAlgorithm = 'sha512';

  private async readQubesXml(): Promise<void> {
    for (;;) {
      const c = this.prefetched ?? (await this.nextPending((base) => (base === 'qubes.xml' ? 'read' : 'stop')));
      this.prefetched = undefined;
      if (!c) break;
      this.qubesXmlChunks.push(await this.authenticate(c));
      if (this.qubesXmlChunks.length > 1024) throw new BackupError('qubes.xml of the backup has too many chunks');
    }
    if (this.qubesXmlChunks.length === 0) throw new BackupError('qubes.xml missing from the backup');
    this.endFile();
  }

  /**
   * The next chunk's member read into memory (its key derivation started),
   * or null at the end / when `route` says stop (the member stays unread).
   * Chunks of skipped files are passed over unread, their order still checked.
   */
  private async nextPending(route: (base: string) => Route | 'stop'): Promise<Pending | null> {
    for (;;) {
      this.entry ??= await this.reader.next();
      const e = this.entry;
      if (!e) return null;
      checkMemberPath(e.name);
      if (e.type !== '0' && e.type !== '7') throw new BackupError(`Unexpected non-regular file in archive: ${e.name}`);
      const v3hmac = this.version === 3 && e.name.endsWith('.hmac');
      const { base, index } = splitChunkName(v3hmac ? e.name.slice(0, -5) : e.name, this.version);
      if (v3hmac) throw new BackupError(`Unexpected file in archive: ${e.name} (no data chunk before it)`);
      const r = route(base);
      if (r === 'stop') return null;
      this.entry = null;
      this.sequence(base, index, e.name, e.storedSize, r === 'skip');
      if (r === 'skip') {
        if (this.version === 3) await this.v3Partner(e.name, false);
        continue;
      }
      if (e.storedSize > (this.version >= 4 ? CHUNK_MAX : V3_CHUNK)) throw new BackupError(`Chunk too large in archive: ${e.name} (${e.storedSize} bytes)`);
      if (this.version >= 4) return this.readContainer({ member: e.name, base, index, data: Buffer.alloc(0) }, e.storedSize);
      const data = await this.reader.readBody(V3_CHUNK);
      const p: Pending = { member: e.name, base, index, data };
      {
        const mac = await this.v3Partner(e.name, true);
        const mine = crypto.createHmac(this.hmacAlgorithm, this.passphrase).update(data).digest('hex');
        if (mac === undefined || mine.length !== mac.length || !crypto.timingSafeEqual(Buffer.from(mine), Buffer.from(mac)))
          throw new BackupError(`HMAC verification of ${e.name} failed: the file is damaged or not from this backup`);
      }
      return p;
    }
  }

  /** Format 3: the `.hmac` member that must follow a data chunk; its digest text. */
  private async v3Partner(dataName: string, read: boolean): Promise<string | undefined> {
    const e = await this.reader.next();
    if (!e || e.name !== `${dataName}.hmac`) throw new BackupError(`Unexpected file in archive: ${e?.name ?? 'end of archive'}, expected ${dataName}.hmac`);
    if (!read) return undefined;
    const text = await this.reader.readBody(HMAC_MAX);
    if (!text.every((b) => b < 0x80)) throw new BackupError(`Invalid HMAC file ${e.name}`);
    const t = text.toString('ascii');
    return t.slice(t.indexOf('=') + 1).trim();
  }

  /** Order rules: a file's chunks consecutive from .000, each file once, ending with a short chunk. */
  private sequence(base: string, index: number, member: string, size: number, skipped: boolean): void {
    const plain = this.version >= 4 ? size - SCRYPT_OVERHEAD : size;
    const c = this.current;
    if (c && c.base === base) {
      const expected = `${base}.${String(c.index + 1).padStart(3, '0')}`;
      if (index !== c.index + 1) throw new BackupError(`Unexpected file in archive: ${member}, expected ${expected}${this.version >= 4 ? '.enc' : ''}`);
      if (c.lastSize !== c.firstSize) throw new BackupError(`Unexpected file in archive: ${member}: chunk ${c.index} of ${base} is shorter than the first, so it should have been the last`);
      c.index = index;
      c.lastSize = plain;
      return;
    }
    this.endFile();
    if (this.finished.has(base)) throw new BackupError(`Unexpected file in archive: ${member}: chunks of ${base} appear twice`);
    if (index !== 0) throw new BackupError(`Unexpected file in archive: ${member}, expected ${base}.000${this.version >= 4 ? '.enc' : ''} first`);
    this.current = { base, index, firstSize: plain, lastSize: plain };
    this.seen.add(base);
    void skipped;
  }

  /** The current file is complete: its last chunk must be short (a full one means chunks are missing). */
  private endFile(): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    this.finished.add(c.base);
    // a lone chunk may have any size up to the writer's chunk size (format 4); the inner archive's end then tells
    const full = c.index > 0 ? c.firstSize : this.version >= 4 ? Infinity : V3_CHUNK;
    if (c.lastSize >= full && c.lastSize > 0)
      throw new BackupError(`Missing chunk in archive: ${c.base}.${String(c.index + 1).padStart(3, '0')}${this.version >= 4 ? '.enc' : ''} (after a full chunk ${c.index})`);
  }

  /** Staged chunk files not yet removed. */
  private readonly staged = new Set<string>();
  private stageDir?: string;

  private forget(p: Pending): void {
    const f = p.body?.file;
    if (f !== undefined) {
      this.staged.delete(f);
      fs.rmSync(f, { force: true });
    }
  }

  private newStageFile(): string {
    const where = this.opts.stageIn ?? os.tmpdir();
    if (this.stageDir === undefined) {
      sweepStaleStaging(where);
      try {
        const me = selfIdentity();
        this.stageDir = fs.mkdtempSync(path.join(where, `${STAGE_PREFIX}${me.pid}-${me.start}-`));
      } catch (e) {
        throw new BackupError(`Cannot make a temporary directory for the restore in ${where}: ${ioReason(e)}`);
      }
    }
    const f = path.join(this.stageDir, `chunk-${this.staged.size}-${crypto.randomBytes(4).toString('hex')}`);
    this.staged.add(f);
    return f;
  }

  /** Remove what was staged (after the restore, or when it stops). */
  private unstage(): void {
    for (const f of this.staged) fs.rmSync(f, { force: true });
    this.staged.clear();
    if (this.stageDir) fs.rmSync(this.stageDir, { recursive: true, force: true });
    this.stageDir = undefined;
  }

  /**
   * Format 4: read a chunk's scrypt container: its header first (the key
   * derivation starts from its salt at once), then the rest into memory
   * or, beyond STAGE_IN_MEMORY, into a staging file.
   */
  private async readContainer(p: Pending, size: number): Promise<Pending> {
    if (size < SCRYPT_OVERHEAD) throw new BackupError(`failed to decrypt ${p.member}: ${NOT_SCRYPT}`);
    const head: Buffer[] = [];
    let have = 0;
    const pieces = this.reader.body(BLOCK);
    const restSize = size - SCRYPT_HEADER;
    const body: NonNullable<Pending['body']> = { size: restSize };
    p.body = body;
    let file: fs.promises.FileHandle | undefined;
    let at = 0;
    try {
      for await (const piece of pieces) {
        let b = piece;
        if (have < SCRYPT_HEADER) {
          const take = Math.min(b.length, SCRYPT_HEADER - have);
          head.push(b.subarray(0, take));
          have += take;
          b = b.subarray(take);
          if (have === SCRYPT_HEADER) {
            p.data = Buffer.concat(head);
            const params = containerParams(p.data, this.opts.maxKdfMemory, size);
            p.keys = deriveKeys(chunkPassword(this.header.backupId as string, p.member.slice(0, -4), this.passphrase), Buffer.from(p.data.subarray(16, 48)), params);
            p.keys.catch(() => {});
            if (restSize <= STAGE_IN_MEMORY) body.mem = Buffer.allocUnsafe(restSize);
            else {
              body.file = this.newStageFile();
              file = await fs.promises.open(body.file, 'wx', 0o600);
            }
          }
        }
        if (!b.length) continue;
        if (body.mem) b.copy(body.mem, at);
        else await (file as fs.promises.FileHandle).write(b);
        at += b.length;
      }
    } catch (e) {
      this.forget(p);
      if (e instanceof BackupError || e instanceof BackupCancelledError) throw e;
      throw new BackupError(`Cannot stage ${p.member} for the restore: ${ioReason(e)}`);
    } finally {
      await file?.close();
    }
    return p;
  }

  private async authenticate(p: Pending): Promise<Chunk> {
    if (!p.keys || !p.body) {
      const data = p.data;
      return { base: p.base, index: p.index, member: p.member, parts: (async function* () { yield data; })() };
    }
    const failed = (msg: string) =>
      new BackupError(`failed to decrypt ${p.member}: ${msg}${msg === BAD_PASSPHRASE ? ' (wrong passphrase, or the chunk was renamed, moved or comes from another backup)' : ''}`);
    const body = p.body;
    let keys: ScryptKeys;
    try {
      keys = await abortable(p.keys, this.opts.signal, 'Restore');
    } catch (e) {
      this.forget(p);
      if (e instanceof BackupCancelledError || e instanceof KdfMemoryError) throw e;
      throw failed((e as Error).message);
    }
    const head = p.data;
    const headerMac = crypto.createHmac('sha256', keys.hmacKey).update(head.subarray(0, 64)).digest();
    if (!crypto.timingSafeEqual(headerMac, head.subarray(64, 96))) {
      this.forget(p);
      throw failed(BAD_PASSPHRASE);
    }
    const dataSize = body.size - 32;
    // the whole container's HMAC first: nothing is decrypted before it matches
    const mac = crypto.createHmac('sha256', keys.hmacKey).update(head);
    let tail: Buffer;
    if (body.mem) {
      mac.update(body.mem.subarray(0, dataSize));
      tail = body.mem.subarray(dataSize);
    } else {
      tail = Buffer.alloc(32);
      try {
        for await (const b of this.stagedBlocks(body.file as string, body.size)) {
          const end = Math.min(b.at + b.data.length, dataSize);
          if (end > b.at) mac.update(b.data.subarray(0, end - b.at));
          for (let i = Math.max(b.at, dataSize); i < b.at + b.data.length; i++) tail[i - dataSize] = b.data[i - b.at] as number;
        }
      } catch (e) {
        this.forget(p);
        throw e;
      }
    }
    if (!crypto.timingSafeEqual(mac.digest(), tail)) {
      this.forget(p);
      throw failed(NOT_SCRYPT);
    }
    const decipher = crypto.createDecipheriv('aes-256-ctr', keys.encKey, Buffer.alloc(16));
    const blocks = body.mem ? undefined : this.stagedBlocks(body.file as string, dataSize);
    const mem = body.mem;
    const self = this;
    const parts = (async function* () {
      try {
        if (mem) {
          yield decipher.update(mem.subarray(0, dataSize));
          return;
        }
        for await (const b of blocks as AsyncIterable<{ data: Buffer }>) yield decipher.update(b.data);
      } finally {
        self.forget(p);
      }
    })();
    return { base: p.base, index: p.index, member: p.member, parts };
  }

  /** The first `size` bytes of a staged chunk in blocks, with their offsets. */
  private async *stagedBlocks(file: string, size: number): AsyncGenerator<{ at: number; data: Buffer }> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch (e) {
      throw new BackupError(`Cannot read the staged chunk ${file}: ${ioReason(e)}`);
    }
    try {
      for (let at = 0; at < size; ) {
        const buf = Buffer.allocUnsafe(Math.min(BLOCK, size - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, at);
        if (bytesRead === 0) throw new BackupError(`The staged chunk ${file} is shorter than it was written`);
        yield { at, data: buf.subarray(0, bytesRead) };
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * The data chunks after qubes.xml, authenticated, in archive order;
   * `route` decides per file (it throws for names outside the layout).
   * The next chunk is read (and staged, its key derived) in the
   * background while the caller consumes the current one's parts, which
   * it must read whole before asking for the next chunk.
   * Ends after the last member, with the last file's end checked.
   */
  async *chunks(route: (base: string) => Route): AsyncGenerator<Chunk> {
    const ahead = new Channel<Pending>(1);
    const reading = (async () => {
      try {
        for (;;) {
          const p = await this.nextPending(route);
          if (!p) break;
          await ahead.push(p);
        }
        ahead.close();
      } catch (e) {
        ahead.fail(e);
      }
    })();
    try {
      for await (const p of ahead) yield await this.authenticate(p);
      this.endFile();
    } finally {
      // the background read may wait on a silent input: not waited for; what it stages later is removed when it ends
      ahead.fail(new BackupError('restore stopped'));
      this.unstage();
      void reading.then(() => this.unstage());
    }
  }
}

/** Staging directories are named `.qubes-restore-PID-START-XXXXXX` after the restore that made them. */
const STAGE_PREFIX = '.qubes-restore-';

/**
 * Remove the staging directories of restores that are gone (killed with
 * SIGKILL, or the machine lost power): their chunks (up to the largest
 * chunk size each) would otherwise stay in dom0's home for good. A
 * directory whose restore still runs, or whose name does not say whose it
 * is, is left alone.
 */
function sweepStaleStaging(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // mkdtemp reports it
  }
  for (const name of names) {
    const m = /^\.qubes-restore-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || processAlive({ pid: Number(m[1]), start: m[2] as string })) continue;
    try {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    } catch {
      // another user's, or going at the same time: not this restore's business
    }
  }
}
