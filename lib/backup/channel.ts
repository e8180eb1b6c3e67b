// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A bounded queue between two async loops (a producer of chunks and the
 * loop that encrypts and writes them): `push` waits while it is full,
 * iteration waits while it is empty, and a failure on either side wakes
 * the other with that error, so nothing hangs.
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private closed = false;
  private error: unknown;
  private wake: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  private wait(): Promise<void> {
    return new Promise((r) => this.wake.push(r));
  }

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && this.error === undefined) await this.wait();
    if (this.error !== undefined) throw this.error;
    this.items.push(item);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  fail(e: unknown): void {
    if (this.error === undefined) this.error = e ?? new Error('failed');
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      const item = this.items.shift();
      if (item !== undefined) {
        this.notify();
        yield item;
        continue;
      }
      if (this.closed) return;
      await this.wait();
    }
  }
}

/**
 * Regroup a stream of buffers into groups of exactly `size` bytes, then one
 * last shorter group, possibly empty (so a stream of exactly N·size bytes
 * ends with an empty group: the chunking rule of spec §2.6). `onFill`
 * sees how full the current group is after each addition.
 */
export async function* regroup(input: AsyncIterable<Buffer>, size: number, onFill?: (have: number) => void): AsyncGenerator<Buffer[]> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const buf of input) {
    let b = buf;
    while (b.length) {
      const take = Math.min(b.length, size - have);
      parts.push(b.subarray(0, take));
      have += take;
      b = b.subarray(take);
      onFill?.(have);
      if (have === size) {
        yield parts;
        parts = [];
        have = 0;
      }
    }
  }
  yield parts;
}
