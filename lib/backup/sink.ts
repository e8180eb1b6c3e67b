// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where a backup goes: a new file (removed again when the backup fails or
 * is cancelled, unless kept on request) or standard output. Writes wait
 * for the stream to drain, so memory stays bounded on a slow destination.
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { BackupError } from '../errors.js';
import { ioReason } from '../util/io-error.js';

export class Sink {
  private error: Error | undefined;
  bytes = 0;

  private constructor(
    private readonly stream: Writable,
    readonly path: string | undefined,
    private readonly fd?: number,
  ) {
    stream.on('error', (e) => {
      this.error = new BackupError(`Failed to write the backup${path ? ` to ${path}` : ''}: ${ioReason(e)}`);
    });
  }

  /** A new file; an existing one is never overwritten. */
  static toFile(file: string): Sink {
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (e) {
      throw new BackupError(`Cannot create ${file}: ${ioReason(e)}`);
    }
    return new Sink(fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 1024 * 1024 }), file, fd);
  }

  static toStdout(): Sink {
    return new Sink(process.stdout, undefined);
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

  /** Flush and close; a file is fsynced. */
  async finish(): Promise<void> {
    if (this.error) throw this.error;
    if (this.stream === process.stdout) {
      await new Promise<void>((r) => (this.stream.writableNeedDrain ? this.stream.once('drain', r) : r()));
      if (this.error) throw this.error;
      return;
    }
    await new Promise<void>((resolve, reject) => this.stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (this.error) throw this.error;
    try {
      fs.fsyncSync(this.fd as number);
      fs.closeSync(this.fd as number);
    } catch (e) {
      throw new BackupError(`Failed to write the backup to ${this.path}: ${ioReason(e)}`);
    }
  }

  /** After a failure: close, and remove the file unless `keep`. */
  abort(keep: boolean): void {
    if (this.stream !== process.stdout) this.stream.destroy();
    if (this.fd !== undefined) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    if (this.path && !keep) fs.rmSync(this.path, { force: true });
  }
}
