// SPDX-License-Identifier: GPL-2.0-or-later
import { abortable, cancelError } from './run-control.js';

/**
 * Exact-size reads from a stream of buffers (a file, standard input, a
 * decompressor's output): what a tar parser needs, with no more than one
 * source buffer held back.
 *
 * With a signal, every wait for the source also ends when the signal
 * aborts (a cancel error), and no read starts after it: a parser looping
 * over a source (zero blocks, skipped members) or waiting on a pipe that
 * never delivers ends at the first SIGINT/SIGTERM instead of only when the
 * source does.
 */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes handed out so far (offsets in error messages, progress). */
  position = 0;

  constructor(
    source: AsyncIterable<Buffer | Uint8Array | string>,
    private readonly signal?: AbortSignal,
  ) {
    const it = source[Symbol.asyncIterator]();
    this.it = {
      next: async () => {
        const r = await it.next();
        if (r.done) return r;
        const v = r.value;
        return { done: false, value: typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength) };
      },
      return: async () => {
        await it.return?.();
        return { done: true, value: undefined };
      },
    };
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    if (this.signal?.aborted) throw cancelError(this.signal, 'Restore');
    const r = await abortable(this.it.next(), this.signal, 'Restore');
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, r.value]) : r.value;
    return true;
  }

  /** Up to `n` bytes; fewer only at the end of the source. */
  async read(n: number): Promise<Buffer> {
    while (this.pending.length < n && (await this.fill()));
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes as pieces of at most `max` bytes; `onShort` makes the error when the source ends first. */
  async *pieces(n: number, onShort: () => Error, max = 1024 * 1024): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) throw onShort();
      const take = Math.min(left, this.pending.length, max);
      const out = this.pending.subarray(0, take);
      this.pending = this.pending.subarray(take);
      this.position += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number, onShort: () => Error): Promise<void> {
    for await (const _ of this.pieces(n, onShort));
  }

  /** Whether any byte is left. */
  async atEnd(): Promise<boolean> {
    while (this.pending.length === 0) if (!(await this.fill())) return true;
    return false;
  }

  /**
   * Stop reading the source (closes a file or pipe early). Not waited for:
   * a stream's iterator queues return() behind a read still pending, and a
   * read abandoned by a cancel may wait on a silent pipe for ever; the
   * owner of such a stream ends that read (the tool destroys standard input).
   */
  async close(): Promise<void> {
    this.ended = true;
    this.pending = Buffer.alloc(0);
    this.it.return?.().catch(() => {});
  }
}
