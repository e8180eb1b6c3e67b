// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where a backup goes: a new file or standard output. Writes wait for the
 * stream to drain, so memory stays bounded on a slow destination.
 *
 * A file is written under a hidden temporary name in the same directory
 * (partial-name.ts) and gets its final name only when complete (fsynced,
 * then linked to the final name, which must not exist, and the temporary
 * name removed; the directory fsynced). So a file under a backup's name is
 * always a whole backup, even after `kill -9` or a power cut; the next
 * backup into the directory removes what a killed one left.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { BackupError } from '../errors.js';
import { syncDir } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';
import { partialName, removeDeadPartials } from './partial-name.js';

export class Sink {
  private error: Error | undefined;
  bytes = 0;

  private constructor(
    private readonly stream: Writable,
    /** The final name of a file backup. */
    readonly path: string | undefined,
    private readonly fd?: number,
    private readonly partial?: string,
  ) {
    stream.on('error', (e) => {
      this.error = new BackupError(`Failed to write the backup${path ? ` to ${path}` : ''}: ${ioReason(e)}`);
    });
  }

  /** A new file (written under a temporary name); an existing one is never overwritten. */
  static toFile(file: string): Sink {
    if (fs.existsSync(file)) throw new BackupError(`Cannot create ${file}: a file of that name exists`);
    removeDeadPartials(path.dirname(file));
    const partial = partialName(file);
    let fd: number;
    try {
      fd = fs.openSync(partial, 'wx', 0o600);
    } catch (e) {
      throw new BackupError(`Cannot create ${file}: ${ioReason(e)}`);
    }
    return new Sink(fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 1024 * 1024 }), file, fd, partial);
  }

  /** The command's standard output (never closed here: the process's is not ours to end). */
  static toStdout(stdout: NodeJS.WritableStream): Sink {
    return new Sink(stdout as Writable, undefined);
  }

  async write(b: Buffer): Promise<void> {
    if (this.error) throw this.error;
    this.bytes += b.length;
    if (!this.stream.write(b)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('error', done);
        this.stream.on('close', done);
      });
      if (this.error) throw this.error;
    }
  }

  /** Whether written bytes can be rewritten in place (a file; not a pipe). */
  get seekable(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Overwrite bytes already written at `position` (a member header whose
   * size is known only after its data), once every earlier write reached
   * the file. Only for a seekable sink.
   */
  async rewrite(b: Buffer, position: number): Promise<void> {
    if (this.error) throw this.error;
    await new Promise<void>((resolve) => this.stream.write(Buffer.alloc(0), () => resolve()));
    if (this.error) throw this.error;
    try {
      fs.writeSync(this.fd as number, b, 0, b.length, position);
    } catch (e) {
      throw new BackupError(`Failed to write the backup${this.path ? ` to ${this.path}` : ''}: ${ioReason(e)}`);
    }
  }

  /** Flush and close; a file is fsynced and gets its final name. */
  async finish(): Promise<void> {
    if (this.error) throw this.error;
    if (this.path === undefined) {
      await new Promise<void>((r) => (this.stream.writableNeedDrain ? this.stream.once('drain', r) : r()));
      if (this.error) throw this.error;
      return;
    }
    await new Promise<void>((resolve, reject) => this.stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (this.error) throw this.error;
    const file = this.path as string;
    const partial = this.partial as string;
    try {
      fs.fsyncSync(this.fd as number);
      fs.closeSync(this.fd as number);
      publish(partial, file);
      syncDir(path.dirname(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError(`Cannot create ${file}: a file of that name appeared while the backup was written`);
      throw new BackupError(`Failed to write the backup to ${file}: ${ioReason(e)}`);
    }
  }

  /**
   * After a failure: close, and remove the file, or with `keep` give it the
   * name `NAME.partial` (never the final name). Returns the kept file.
   */
  abort(keep: boolean): string | undefined {
    if (this.path !== undefined) this.stream.destroy();
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    if (!this.partial) return undefined;
    if (!keep) {
      fs.rmSync(this.partial, { force: true });
      return undefined;
    }
    const kept = `${this.path}.partial`;
    try {
      publish(this.partial, kept);
      return kept;
    } catch {
      return this.partial;
    }
  }
}

/**
 * Give `partial` the name `file`, which must not exist: a hard link then
 * the unlink (atomic, never replaces); where the file system has no hard
 * links (vfat, exfat: common on backup drives) a rename after a check.
 */
function publish(partial: string, file: string): void {
  try {
    fs.linkSync(partial, file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw e;
    if (fs.existsSync(file)) throw Object.assign(new Error('file exists'), { code: 'EEXIST' });
    fs.renameSync(partial, file);
    return;
  }
  fs.unlinkSync(partial);
}
