// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What a restore has made so far (restore.ts): undone on any failure or
 * cancel, and what runs only once the records are in the store.
 */
import fs from 'node:fs';

/** What a restore has made so far, to undo on failure; and what runs only after the store update. */
export class Txn {
  /** Uncommitted imports and temporary directories, by key. */
  readonly pending = new Map<string, () => Promise<void>>();
  /** Undo of committed data (images in place, directories). */
  readonly committed: (() => Promise<void>)[] = [];
  /** After the records were added. */
  readonly finishers: (() => Promise<void>)[] = [];
  /** Per-qube directories import targets were made in (`appvms/NAME`): removed again when left empty. */
  readonly dirs = new Set<string>();

  async rollback(): Promise<void> {
    for (const undo of [...this.pending.values(), ...this.committed.reverse()]) await undo().catch(() => {});
    this.pending.clear();
    this.committed.length = 0;
    for (const d of this.dirs) removeIfEmpty(d);
  }
}

/** rmdir: a directory that is gone, or holds something, is left as it is. */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty, or already gone
  }
}
