// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The daemon's key/value store and its watches, in memory, with no I/O.
 *
 * Entries are kept sorted by path in byte order (the daemon's linked list
 * is sorted with strcmp), which fixes the order LIST and MULTIREAD answer
 * in. A watch on `P` fires for a change of exactly `P`; a watch on `P/`
 * fires for every change of a path starting with `P/` (and for an `rm` of
 * that subtree itself). Each registered watch fires once, newest first.
 *
 * Reference: qubes-core-qubesdb: daemon/db-core.c; shared/spec/vmm.md §4.4.
 */
import { isEntryPath } from './protocol.js';

export class QdbDatabase {
  private readonly paths: string[] = [];
  private readonly values = new Map<string, Buffer>();

  /** Index of the first path not sorting before `path`. */
  private lowerBound(path: string): number {
    let lo = 0;
    let hi = this.paths.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.paths[mid] as string) < path) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  read(path: string): Buffer | undefined {
    return this.values.get(path);
  }

  /** False when the path cannot name an entry (relative, trailing `/`, too long). */
  write(path: string, value: Buffer): boolean {
    if (!isEntryPath(path)) return false;
    if (!this.values.has(path)) this.paths.splice(this.lowerBound(path), 0, path);
    this.values.set(path, value);
    return true;
  }

  /** Remove one entry, or with a trailing `/` every entry below it; false when nothing matched. */
  remove(path: string): boolean {
    if (path === '') return false;
    if (!path.endsWith('/')) {
      if (!this.values.delete(path)) return false;
      this.paths.splice(this.lowerBound(path), 1);
      return true;
    }
    const from = this.lowerBound(path);
    let to = from;
    while (to < this.paths.length && (this.paths[to] as string).startsWith(path)) this.values.delete(this.paths[to++] as string);
    this.paths.splice(from, to - from);
    return to > from;
  }

  /** Paths starting with `prefix` (which need not end in `/`), sorted. */
  list(prefix: string): string[] {
    const out: string[] = [];
    for (let i = this.lowerBound(prefix); i < this.paths.length && (this.paths[i] as string).startsWith(prefix); i++) out.push(this.paths[i] as string);
    return out;
  }

  /**
   * Entries below `prefix`, sorted; the empty prefix dumps everything in
   * reverse order (the VM-side daemon's insertion sort prefers it).
   */
  multiread(prefix: string): [string, Buffer][] {
    const paths = this.list(prefix);
    if (prefix === '') paths.reverse();
    return paths.map((p) => [p, this.values.get(p) as Buffer]);
  }

  get size(): number {
    return this.paths.length;
  }
}

interface Watch<C> {
  path: string;
  client: C;
}

/** Watches registered by clients of type C. */
export class WatchRegistry<C> {
  /** Newest first, as the daemon's list. */
  private watches: Watch<C>[] = [];

  add(path: string, client: C): void {
    this.watches.unshift({ path, client });
  }

  /** Remove one watch of this client on exactly this path; false when there was none. */
  remove(path: string, client: C): boolean {
    const i = this.watches.findIndex((w) => w.client === client && w.path === path);
    if (i < 0) return false;
    this.watches.splice(i, 1);
    return true;
  }

  removeClient(client: C): void {
    this.watches = this.watches.filter((w) => w.client !== client);
  }

  /** The client of every watch a change of `changed` fires, once per watch. */
  fired(changed: string): C[] {
    return this.watches.filter((w) => watchMatches(w.path, changed)).map((w) => w.client);
  }
}

/** A watch on `a/b/` covers the subtree; any other watch covers exactly its path. */
export const watchMatches = (watched: string, changed: string): boolean =>
  watched.endsWith('/') ? changed.startsWith(watched) : changed === watched;
