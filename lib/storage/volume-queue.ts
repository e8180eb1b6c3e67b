// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Work on one volume, one operation at a time within this process (the
 * reference's per-volume lock; across commands the volume locks of
 * volume-lock.ts do it). Operations on different volumes run side by side.
 * Drivers whose operations span several program runs (lvm, zfs) queue them
 * here so that a stop issued with a start acts on what the start made.
 */
export class VolumeQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `work` after every earlier work on `vid` has settled. */
  run<T>(vid: string, work: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(vid) ?? Promise.resolve()).then(work);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(vid, settled);
    void settled.then(() => {
      if (this.tails.get(vid) === settled) this.tails.delete(vid);
    });
    return result;
  }
}
