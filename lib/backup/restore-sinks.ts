// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where the restore (restore.ts) puts what it reads: small files in memory,
 * a volume's data written sparse into its pool's import target, dom0's home
 * extracted into a hidden directory. Each registers its undo with the
 * transaction (restore-txn.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupError } from '../errors.js';
import { writeSparse } from '../storage/copy-data.js';
import type { QubeVolume } from '../storage/qube-storage.js';
import { ioReason } from '../util/io-error.js';
import type { BackupArchive, Chunk } from './archive-reader.js';
import { ByteSource } from './byte-source.js';
import { decompress, throughProgram } from './compression.js';
import { ChunkConsumer, InnerFile, opensslDecrypt, type MemberSink } from './inner-file.js';
import { partialName, removeDeadPartials } from './partial-name.js';
import type { Txn } from './restore-txn.js';
import { TarReader } from './tar-reader.js';

export const SMALL_MAX = 16 * 1024 * 1024;

/** Small inner files in memory (qubes.xml, firewall.xml, notes.txt, empty). */
export class MemorySink implements MemberSink {
  parts: Buffer[] = [];
  size = 0;
  constructor(private readonly limit: number) {}
  write(data: Buffer): void {
    this.size += data.length;
    if (this.size > this.limit) throw new BackupError(`file too large in backup (${this.size} bytes)`);
    this.parts.push(Buffer.from(data));
  }
  close(): void {}
  abort(): void {}
  get data(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The data of one small file of the backup, decrypted, decompressed and unpacked. */
export async function smallFile(chunks: Chunk[], member: string, archive: BackupArchive, passphrase: string, signal?: AbortSignal): Promise<Buffer> {
  const sink = new MemorySink(SMALL_MAX);
  const f = new InnerFile({
    base: member,
    compression: archive.header.compressed ? archive.header.compressionFilter : null,
    opensslPassphrase: archive.version === 3 && archive.header.encrypted ? passphrase : undefined,
    handler: (name) => (name === member ? { open: async () => sink } : undefined),
    signal,
  });
  try {
    for (const c of chunks) for await (const part of c.parts) await f.push(part);
    await f.end();
  } catch (e) {
    await f.fail(e);
    throw e;
  }
  return sink.data;
}

/** Import target of a volume: data written sparse; on close the size is recorded for the commit. */
export async function importSink(
  qv: QubeVolume,
  size: number,
  qube: string,
  volName: string,
  txn: Txn,
  sizes: Map<string, Map<string, number>>,
  count: (n: number) => void,
): Promise<MemberSink> {
  const target = await qv.pool.importData(qv.volume, size);
  txn.pending.set(`${qube}/${volName}`, () => qv.pool.importDataEnd(qv.volume, false));
  // file pools make the qube's directory for the target; a restore that fails must not leave it
  if (path.basename(path.dirname(target)) === qube) txn.dirs.add(path.dirname(target));
  let fd: number | undefined;
  try {
    fd = fs.openSync(target, 'r+');
  } catch (e) {
    throw new BackupError(`Cannot open ${target}: ${ioReason(e)}`);
  }
  const closeFd = () => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
  };
  return {
    write(data, offset) {
      if (offset + data.length > size) throw new BackupError(`${qube}:${volName}: data beyond the volume size`);
      writeSparse(fd as number, data, offset);
      count(data.length);
    },
    close() {
      fs.fdatasyncSync(fd as number);
      closeFd();
      let m = sizes.get(qube);
      if (!m) sizes.set(qube, (m = new Map()));
      m.set(volName, size);
    },
    abort: closeFd,
  };
}

/**
 * dom0's home: the inner stream (a tar of `dom0-home/<user>/...`) goes to
 * GNU tar extracting into a hidden directory in the home (partial-name.ts:
 * what a killed restore left there is removed by the next one); after the
 * whole restore succeeded it becomes `home-restore-<time>`. Verify-only
 * reads it with our own tar reader.
 */
export class HomeExtract extends ChunkConsumer {

  constructor(
    readonly base: string,
    compression: string | null,
    openssl: string | undefined,
    verifyOnly: boolean,
    home: string,
    txn: Txn,
    count: (n: number) => void,
    signal?: AbortSignal,
  ) {
    super();
    const now = new Date();
    const p = (n: number) => String(n).padStart(2, '0');
    const final = path.join(home, `home-restore-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`);
    const tmp = partialName(final);
    let stream: AsyncIterable<Buffer> = this.chan;
    if (openssl !== undefined) stream = opensslDecrypt(stream, openssl, `dom0 home ${base}`);
    stream = decompress(compression, stream, `dom0 home ${base}`);
    const counted = (async function* (s: AsyncIterable<Buffer>) {
      for await (const b of s) {
        count(b.length);
        yield b;
      }
    })(stream);
    if (verifyOnly) {
      this.start(
        (async () => {
          const r = new TarReader(new ByteSource(counted, signal), { what: `dom0 home ${base}` });
          while (await r.next());
        })(),
      );
    } else {
      removeDeadPartials(home);
      fs.mkdirSync(tmp, { mode: 0o700 });
      txn.pending.set('dom0-home', async () => fs.rmSync(tmp, { recursive: true, force: true }));
      this.start(
        (async () => {
          for await (const _ of throughProgram('tar', ['-x', '--no-same-owner', '-C', tmp, '--', base], counted, 'Extracting dom0 home'));
        })(),
      );
      txn.finishers.push(async () => {
        txn.pending.delete('dom0-home');
        fs.renameSync(tmp, final);
      });
    }
  }
}
