// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-daemon: serve the QubesDB of one qube on its dom0-side sockets.
 *
 * As the reference daemon, it forks: the command returns (exit 0) only once
 * the background daemon listens, so a caller can connect right after it;
 * failures to start are reported by the command. `--foreground` serves in
 * the process itself until SIGTERM or SIGINT, then removes its sockets and
 * pid file. The forked daemon reports readiness on the descriptor named by
 * QUBESDB_READY_FD.
 *
 * Reference: qubes-core-qubesdb: daemon/db-daemon.c (main, the fork and
 * readiness pipe); shared/spec/vmm.md §3.2 step 10b, §4.1.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { QUBESDB_READY_FD_VAR, type Env } from '../config.js';
import { QubesError } from '../errors.js';
import { packageBin } from '../util/package-root.js';
import { QubesDbDaemon } from '../vmm/qubesdb/daemon.js';
import { socketDir, socketPaths } from '../vmm/qubesdb/paths.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
const { spawn } = childProcess;

export const spec: CommandSpec = {
  name: 'qubesdb-daemon',
  summary: "serve a qube's QubesDB on its dom0-side sockets",
  args: [
    { name: 'REMOTE_DOMID', description: 'domain id of the qube (0 for dom0 itself)' },
    { name: 'REMOTE_NAME', description: 'name of the qube; without it the daemon serves the local sockets', kind: 'vm', optional: true },
  ],
  options: [
    { flags: '--rw-socket-perms <OCTAL>', description: 'mode of the read-write socket (default 0666)' },
    { flags: '--foreground', description: 'do not fork: serve until SIGTERM or SIGINT' },
  ],
};

interface Opts {
  rwSocketPerms?: string;
  foreground?: boolean;
}

/** Environment variable naming the descriptor the forked daemon reports readiness on. */
const READY = 'READY';

function parseArgs(opts: Opts, args: string[]) {
  const [domidText, name] = args as [string, string?];
  if (!/^\d+$/.test(domidText)) throw new UsageError(`invalid remote domain id: '${domidText}'`);
  if (name !== undefined) socketPaths('/', name); // refuses names that cannot be part of a socket name
  let perms: number | undefined;
  if (opts.rwSocketPerms !== undefined) {
    if (!/^[0-7]{1,4}$/.test(opts.rwSocketPerms)) throw new UsageError(`invalid socket permissions: '${opts.rwSocketPerms}' (octal)`);
    perms = parseInt(opts.rwSocketPerms, 8);
  }
  return { remoteDomid: Number(domidText), name: name ?? null, perms };
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const a = parseArgs(opts, args);
  if (!opts.foreground) return fork(args, opts, ctx);
  return serve(a.name, a.remoteDomid, a.perms, ctx);
}

/** Report readiness (or the reason there is none) to the process that forked us. */
function report(env: Env, message: string): void {
  const fd = Number(env[QUBESDB_READY_FD_VAR]);
  if (!env[QUBESDB_READY_FD_VAR] || !Number.isInteger(fd)) return;
  try {
    fs.writeSync(fd, `${message}\n`);
    fs.closeSync(fd);
  } catch {
    // the parent is gone; nobody to tell
  }
}

async function serve(name: string | null, remoteDomid: number, perms: number | undefined, ctx: Context): Promise<number> {
  const daemon = new QubesDbDaemon({ name, remoteDomid, socketDir: socketDir(ctx.env), rwSocketPerms: perms });
  try {
    await daemon.start();
    fs.writeFileSync(daemon.paths.pid, `${process.pid}\n`);
  } catch (e) {
    await daemon.stop();
    report(ctx.env, `ERROR ${(e as Error).message}`);
    throw e;
  }
  report(ctx.env, READY);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await daemon.stop();
  fs.rmSync(daemon.paths.pid, { force: true });
  return 0;
}

/** Start the daemon detached and wait until it says it listens (or why it cannot). */
async function fork(args: string[], opts: Opts, ctx: Context): Promise<number> {
  const script = ctx.session.streams.program ?? packageBin('qubesdb-daemon');
  const childArgs = [script, '--foreground', ...(opts.rwSocketPerms ? [`--rw-socket-perms=${opts.rwSocketPerms}`] : []), '--', ...args];
  const child = spawn(process.execPath, childArgs, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...ctx.env, [QUBESDB_READY_FD_VAR]: '3' },
  });
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  let said = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (d: string) => (said += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    pipe.once('end', resolve);
    child.once('error', (e) => reject(new QubesError(`cannot run the daemon: ${e.message}`)));
  });
  child.unref();
  const line = said.trim();
  if (line === READY) return 0;
  if (line.startsWith('ERROR ')) throw new QubesError(line.slice('ERROR '.length));
  throw new QubesError(`the daemon exited before it was ready (exit code ${await exited})`);
}
