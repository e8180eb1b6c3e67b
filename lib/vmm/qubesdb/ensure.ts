// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starting a qube's QubesDB daemon the way qubesd does at qube start: run
 * `qubesdb-daemon XID NAME`, which returns once the daemon listens; and
 * stopping it when the qube has stopped (the reference daemon exits when
 * its vchan to the qube closes; this one has no vchan).
 *
 * The command is this package's bin/qubesdb-daemon, or the one named by
 * `QUBESDB_DAEMON` (e.g. the reference /usr/sbin/qubesdb-daemon).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py start_qubesdb;
 * shared/spec/vmm.md §3.2 step 10b.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { qubesdbDaemonProgram, type Env } from '../../config.js';
import { QubesError } from '../../errors.js';
import { packageBin } from '../../util/package-root.js';
import { socketDir, socketPaths } from './paths.js';
import { socketAnswers } from './unix-socket.js';
const { execFile } = childProcess;

export interface EnsureDaemonOptions {
  /** The command's environment: the socket directory, another daemon program; the daemon runs with it. */
  env: Env;
  /** How long the daemon may take to become ready (default 10 s). */
  timeoutMs?: number;
}

function daemonCommand(env: Env): [string, string[]] {
  const own = qubesdbDaemonProgram(env);
  return own ? [own, []] : [process.execPath, [packageBin('qubesdb-daemon')]];
}

/**
 * Make sure a QubesDB daemon serves qube `vmName` (domain id `xid`): when
 * its socket does not answer, start one and wait until it does. Returns
 * whether a daemon was started.
 * @throws QubesError "Cannot execute qubesdb-daemon: ..." when it cannot start
 */
export async function ensureDaemon(vmName: string, xid: number, opts: EnsureDaemonOptions): Promise<boolean> {
  const env = opts.env;
  const timeoutMs = opts.timeoutMs ?? 10000;
  const sock = socketPaths(socketDir(env), vmName).rw;
  if (await socketAnswers(sock)) return false;
  const [cmd, pre] = daemonCommand(env);
  await new Promise<void>((resolve, reject) => {
    execFile(cmd, [...pre, String(xid), vmName], { env, timeout: timeoutMs, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = stderr.trim().split('\n').pop() || err.message;
      reject(new QubesError(`Cannot execute qubesdb-daemon: ${why}`));
    });
  });
  if (!(await socketAnswers(sock))) throw new QubesError(`qubesdb-daemon for ${vmName} started but ${sock} does not answer`);
  return true;
}

/**
 * Stop the QubesDB daemon of qube `vmName` (SIGTERM to the pid in its pid
 * file) and wait until it has removed its sockets. A pid file whose socket
 * does not answer is left over from a killed daemon: it is removed and no
 * process is signalled. Returns whether a daemon was stopped.
 * @throws QubesError when the daemon does not exit in time
 */
/**
 * Whether the process has ended. A zombie not yet reaped by its new parent
 * has ended once its other threads are gone too (they still hold its files).
 */
function exited(pid: number): boolean {
  try {
    const zombie = /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return zombie && fs.readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

export async function stopDaemon(vmName: string, opts: EnsureDaemonOptions): Promise<boolean> {
  const env = opts.env;
  const p = socketPaths(socketDir(env), vmName);
  let pid: number;
  try {
    pid = Number(fs.readFileSync(p.pid, 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !(await socketAnswers(p.rw))) {
    fs.rmSync(p.pid, { force: true });
    return false;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    fs.rmSync(p.pid, { force: true });
    return false;
  }
  const end = Date.now() + (opts.timeoutMs ?? 10000);
  // its sockets go first (in its SIGTERM handler); stopped means the process is gone too
  while (fs.existsSync(p.pid) || fs.existsSync(p.rw) || !exited(pid)) {
    if (Date.now() > end) throw new QubesError(`qubesdb-daemon of ${vmName} (pid ${pid}) did not exit`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
