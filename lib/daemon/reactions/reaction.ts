// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the daemon's background reactions give back when started: a stop
 * that returns once the work already queued is over, so that the daemon
 * closes its store view and sockets only after nothing of theirs runs.
 */
export interface Reaction {
  stop(): Promise<void>;
}
