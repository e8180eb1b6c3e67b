// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * How far a data copy is, for the command to show (qvm-clone, qvm-volume
 * import and clone on a pool that cannot reflink). The storage layer only
 * counts bytes: a command that wants to show them sets `watchCopy` on its
 * StorageContext (its progress display, lib/util/progress.ts, is such a
 * counter); without it nothing is measured.
 *
 * A counter is started when a copy begins (its rate counts from then) and
 * told nothing until the first look, POLL_MS later, that finds the copy
 * still running; from then on every POLL_MS, and at the end. A copy that
 * ended before (a reflink) hears nothing more: it shows nothing. Copies of
 * less than MIN_WATCHED bytes are not watched at all: they end in well
 * under a second on any disk, and lines about them would only be noise in
 * a script's output. A copy by a program (cp) is measured by the blocks
 * its destination holds, against the blocks the source holds (a sparse
 * image's holes are not copied, so they are not counted either).
 */
import fs from 'node:fs';

/**
 * The bytes of one copy as they are written; `finish` once at its end
 * (`ok`: it succeeded), unless the copy ended before it was told anything.
 */
export interface CopyCounter {
  update(done: number): void;
  finish(ok: boolean): void;
}

/** Starts the counter of a copy of `total` bytes into the volume `vid` (set on a StorageContext). */
export type CopyWatcher = (vid: string, total: number) => CopyCounter;

/** Starts the counter of one copy of `total` bytes. */
export type StartCounter = (total: number) => CopyCounter;

/** The starter of counters for copies into the volume `vid`; none without a watcher. */
export const counterFor = (watcher: CopyWatcher | undefined, vid: string): StartCounter | undefined => watcher && ((total) => watcher(vid, total));

const POLL_MS = 100;
const MIN_WATCHED = 64 * 1024 * 1024;

/**
 * Run `copy` of `total` bytes and, given `start`, tell its counter `done()`
 * every POLL_MS from the first look at which `copy` still runs, then how it
 * ended (see the module comment).
 */
export async function watched<T>(start: StartCounter | undefined, total: number, done: () => number, copy: () => Promise<T>): Promise<T> {
  if (!start || total < MIN_WATCHED) return copy();
  const counter = start(total);
  let told = false;
  const timer = setInterval(() => {
    told = true;
    counter.update(Math.min(total, done()));
  }, POLL_MS);
  try {
    const result = await copy();
    clearInterval(timer);
    if (told) {
      counter.update(total);
      counter.finish(true);
    }
    return result;
  } catch (e) {
    clearInterval(timer);
    if (told) counter.finish(false);
    throw e;
  }
}

/** Bytes of data a file holds (its allocated blocks, at most its size); 0 for what is not a regular file. */
export function dataBytes(file: string): number {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch {
    // only a measure: the copy itself reports what is wrong with the file
    return 0;
  }
  return st?.isFile() ? Math.min(st.size, st.blocks * 512) : 0;
}
