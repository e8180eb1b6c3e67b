// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The daemon's view of qubes.xml: one loaded snapshot, reused while the
 * file is the same (inode, modification time and size, as the store's own
 * save check), reloaded when anybody changed it (the daemon or a one-shot
 * command), and every reload announced as the events that lead from the
 * previous snapshot to the new one (store-events.ts).
 *
 * Changes go through the store's own lock and atomic save (Store.update),
 * one at a time inside the daemon; after each, the view reloads and
 * announces. So a change is announced once, whoever made it, and only
 * whole: a listener sees the file as saved, never half a change.
 */
import fs from 'node:fs';
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import { storeChangeEvents } from './store-events.js';
import type { EventFields } from './wire.js';

interface Identity {
  ino: number;
  mtimeMs: number;
  size: number;
}

export type EventListener = (subject: string, event: string, fields: EventFields) => void;

function identityOf(file: string): Identity | undefined {
  try {
    const st = fs.statSync(file);
    return { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
  } catch {
    return undefined;
  }
}

const same = (a: Identity | undefined, b: Identity | undefined) =>
  a !== undefined && b !== undefined && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size;

export class StoreView {
  private app: Qubes | undefined;
  private id: Identity | undefined;
  private readonly listeners = new Set<EventListener>();
  /** Changes of the daemon, one after the other (the store lock orders them with other writers). */
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: fs.FSWatcher | undefined;

  constructor(readonly store: Store) {}

  /**
   * The store as it is on disk now. The file is stat'ed at each call; it is
   * parsed again only when it changed, and the difference is announced.
   * @throws StoreError when it cannot be read
   */
  current(): Qubes {
    const now = identityOf(this.store.file);
    if (this.app && same(now, this.id)) return this.app;
    // The identity is taken before the read: if a writer renames a new file
    // in between, this snapshot is newer than its identity says, and the
    // next call reads again (announcing nothing twice: the difference of a
    // file from itself is empty).
    const fresh = this.store.read();
    const prev = this.app;
    this.app = fresh;
    this.id = now;
    if (prev) this.announce(prev, fresh);
    return fresh;
  }

  /** Change the store (lock, re-read, change, save), then reload and announce. */
  write<T>(change: (app: Qubes) => T | Promise<T>): Promise<T> {
    const run = async () => {
      this.current(); // announce anything others changed first, so their events come before ours
      try {
        return await this.store.update(change);
      } finally {
        this.current();
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Announce an event that is not a change of the store (the daemon's
   * reactions: domain-stopped, domain-shutdown, a device that appeared) to the
   * same listeners, so that a client sees one stream in the order things
   * happened.
   */
  publish(subject: string, event: string, fields: EventFields = []): void {
    for (const l of this.listeners) l(subject, event, fields);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Notice changes of other writers without waiting for a request: watch
   * the store's directory (saves are renames, so the file itself is
   * replaced) and reload when it changed. Reloads go through the same
   * queue as the daemon's own changes.
   */
  watch(dir: string, onError: (e: unknown) => void): void {
    let pending = false;
    const check = () => {
      pending = false;
      const run = async () => {
        try {
          this.current();
        } catch (e) {
          onError(e);
        }
      };
      this.queue = this.queue.then(run, run);
    };
    this.watcher = fs.watch(dir, { persistent: false }, () => {
      // coalesce a burst of notifications (temp file, rename) into one check
      if (pending) return;
      pending = true;
      setTimeout(check, 5);
    });
    this.watcher.on('error', onError);
  }

  close(): void {
    this.watcher?.close();
  }

  private announce(prev: Qubes, next: Qubes): void {
    if (this.listeners.size === 0) return;
    for (const [subject, event, fields] of storeChangeEvents(prev, next))
      for (const l of this.listeners) l(subject, event, fields);
  }
}
