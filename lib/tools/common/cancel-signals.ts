// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * SIGINT and SIGTERM during a command that makes or copies data: the work
 * sees its signal aborted, stops its copy at once and removes what it made
 * (QubesCancelledError); the command prints one line and then ends by that
 * signal (status 130 / 143 in a shell), as an uncaught signal would. A
 * second signal ends the command at once (lib/backup/run-control.ts, shared
 * with qvm-backup and qvm-backup-restore).
 */
import { exitBySignal, onCancelSignals } from '../../backup/run-control.js';
import { QubesCancelledError } from '../../errors.js';
import type { Context } from './program.js';

/** Run `work` with SIGINT/SIGTERM turned into its abort signal (see the module comment). */
export async function cancellable<T>(ctx: Context, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = onCancelSignals(controller);
  const bySignal = () => (controller.signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
  try {
    const result = await work(controller.signal);
    // done before it noticed: the work stands, the command still ends as asked
    if (controller.signal.aborted) exitBySignal(bySignal());
    return result;
  } catch (e) {
    if (e instanceof QubesCancelledError || controller.signal.aborted) {
      ctx.err(`${ctx.prog}: error: ${(e as Error).message}\n`);
      exitBySignal(bySignal());
    }
    throw e;
  } finally {
    stop();
  }
}
