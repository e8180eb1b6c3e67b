// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The Session of one Admin API call: the daemon's environment and store
 * (shared by its calls), warnings into the daemon's log, progress dropped,
 * and no standard streams (a call's input is its payload, its output the
 * reply).
 */
import { Session } from '../ops/session.js';
import type { Call } from './method.js';

const none = (what: string) => (): never => {
  throw new Error(`an Admin API call has no ${what}`);
};

export function callSession(call: Call): Session {
  return new Session({
    env: call.services.env,
    prog: 'qubesd',
    store: call.services.store,
    warn: call.services.warn,
    log: () => {},
    streams: {
      out: () => {},
      err: (s) => call.services.warn(s.replace(/\n$/, '')),
      stdout: none('standard output'),
      stdin: none('standard input'),
      stdoutIsTTY: false,
      stderrIsTTY: () => false,
      stdinIsTTY: () => false,
      readLine: () => '',
      cwd: '/',
    },
  });
}
