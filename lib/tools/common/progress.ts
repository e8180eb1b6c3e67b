// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Progress of a command's long work on standard error (lib/util/progress.ts):
 * a bar with rate and time left on a terminal, one line per percent
 * otherwise, nothing with -q. qvm-backup and qvm-backup-restore count the
 * bytes of their archive; qvm-clone and qvm-volume the bytes of their data
 * copies (lib/storage/copy-watch.ts).
 */
import type { CopyWatcher } from '../../storage/copy-watch.js';
import { Progress } from '../../util/progress.js';
import type { Context } from './program.js';

/** The progress of `total` bytes of work named `label`, on the command's standard error. */
export const stderrProgress = (ctx: Context, label: string, total: number): Progress =>
  new Progress(label, total, { write: ctx.err, isTTY: ctx.session.streams.stderrIsTTY() }, ctx.verbose < 0);

/** The watcher to set on the command's storage context (none with -q); `label` names a copy into the volume `vid`. */
export function copyProgress(ctx: Context, label: (vid: string) => string): CopyWatcher | undefined {
  if (ctx.verbose < 0) return undefined;
  return (vid, total) => stderrProgress(ctx, label(vid), total);
}
