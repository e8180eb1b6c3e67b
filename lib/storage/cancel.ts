// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Cancelling data work: the command aborts its AbortController on SIGINT or
 * SIGTERM (reason: the signal's name), the long copies see it and fail with
 * QubesCancelledError, and the operation removes what it made on the way out.
 */
import { QubesCancelledError } from '../errors.js';

export function cancelledError(signal: AbortSignal): QubesCancelledError {
  const name = signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
  return new QubesCancelledError(`Cancelled by ${name}`, name);
}

/** @throws QubesCancelledError once `signal` is aborted */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError(signal);
}
