// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-watch: wait for changes of QubesDB entries and print the path of
 * each change.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_watch).
 */
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import { DOMAIN_OPTION, Failures, pathsArg, requirePaths, withQdb, type QdbToolOpts } from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesdb-watch',
  summary: 'wait for changes of QubesDB entries and print their paths',
  args: [pathsArg('entry to watch, or with a trailing / everything below it (one or more); it need not exist')],
  options: [DOMAIN_OPTION, { flags: '-n <N>', description: 'how many changes to wait for before exiting (default 1; negative: never exit)' }],
};

interface Opts extends QdbToolOpts {
  n?: string;
}

function eventCount(text: string | undefined): number {
  if (text === undefined) return 1;
  if (!/^-?\d+$/.test(text)) throw new UsageError(`argument -n: invalid int value: '${text}'`);
  return Number(text);
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  requirePaths(args);
  let remaining = eventCount(opts.n);
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    for (const path of args) if (!(await failures.attempt(`Failed to setup watch on ${path}`, () => qdb.watch(path)))) return failures.code;
    for (; remaining !== 0; remaining--) {
      const ok = await failures.attempt('Failed to read watch', async () => ctx.out(`${await qdb.readWatch()}\n`));
      if (!ok) return failures.code;
    }
    return 0;
  });
}
