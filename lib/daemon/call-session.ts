// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The Session of one Admin API call, or of one reaction of the daemon to
 * the hypervisor: the daemon's environment and store (shared by them
 * all), warnings into the daemon's log, progress dropped (a reaction's
 * goes to the log), and no standard streams (a call's input is its
 * payload, its output the reply).
 */
import { Session } from '../ops/session.js';
import type { Call, DaemonServices } from './method.js';

const none = (what: string) => (): never => {
  throw new Error(`an Admin API call has no ${what}`);
};

export function callSession(call: Call): Session {
  return daemonSession(call.services);
}

/** A Session of the daemon's own work (a call's, or a reaction to the hypervisor); progress to `log` when given. */
export function daemonSession(services: DaemonServices, log: (message: string) => void = () => {}): Session {
  return new Session({
    env: services.env,
    prog: 'qubesd',
    store: services.store,
    warn: services.warn,
    log,
    streams: {
      out: () => {},
      err: (s) => services.warn(s.replace(/\n$/, '')),
      stdout: none('standard output'),
      stdin: none('standard input'),
      stdoutIsTTY: () => false,
      stderrIsTTY: () => false,
      stdinIsTTY: () => false,
      readLine: () => '',
      cwd: '/',
    },
  });
}
