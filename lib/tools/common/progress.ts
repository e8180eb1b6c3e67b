// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Progress of a command's long work on standard error (lib/util/progress.ts):
 * a bar with rate and time left on a terminal, one line per percent
 * otherwise, nothing with -q. qvm-backup and qvm-backup-restore count the
 * bytes of their archive.
 */
import { Progress } from '../../util/progress.js';
import type { Context } from './program.js';

/** The progress of `total` bytes of work named `label`, on the command's standard error. */
export const stderrProgress = (ctx: Context, label: string, total: number): Progress =>
  new Progress(label, total, { write: ctx.err, isTTY: ctx.session.streams.stderrIsTTY }, ctx.verbose < 0);

