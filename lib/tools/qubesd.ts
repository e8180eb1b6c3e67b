// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesd: the Admin API daemon. Serves qubesd.sock, qubesd.internal.sock
 * and qubesd.misc.sock (in QUBESD_SOCKET_DIR, default /var/run) over the
 * same store, lock and atomic save as the one-shot commands, until SIGTERM
 * or SIGINT: then it stops listening, finishes the requests in flight and
 * exits 0.
 *
 * Reference: qubes-core-admin: qubes/tools/qubesd.py.
 */
import { startDaemon } from '../daemon/daemon.js';
import type { Log } from '../daemon/server.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesd',
  summary: 'the Qubes OS Admin API daemon',
  args: [],
  options: [
    { flags: '--debug', description: 'log every failed call with its stack, and send stacks to clients in error replies' },
    { flags: '--log-dom0-call', description: 'log every call, dom0 ones included (also QUBES_LOG_DOM0_CALL=1)' },
  ],
};

interface Opts {
  debug?: boolean;
  logDom0Call?: boolean;
}

export async function run(opts: Opts, _args: string[], ctx: Context): Promise<number> {
  const log: Log = {
    info: (m) => ctx.err(`qubesd: ${m}\n`),
    warning: (m) => ctx.err(`qubesd: warning: ${m}\n`),
    error: (m) => ctx.err(`qubesd: error: ${m}\n`),
  };
  const running = await startDaemon({ store: ctx.store(), env: ctx.env, debug: opts.debug === true, logCalls: opts.logDom0Call === true || Boolean(ctx.env.QUBES_LOG_DOM0_CALL), log });
  log.info('listening');
  // Handlers stay installed (`on`, not `once`): the store lock's signal-exit
  // re-raises a signal when it finds no other listener left, which a `once`
  // listener no longer is while it runs, and the daemon would die by it.
  const signal = await new Promise<string>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  log.info(`caught ${signal}, exiting`);
  await running.stop();
  return 0;
}
