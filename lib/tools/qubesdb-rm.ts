// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-rm: remove QubesDB entries (a path ending in / removes everything
 * below it). Removing what does not exist is not an error.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_rm).
 */
import type { Context } from './common/program.js';
import { DOMAIN_OPTION, Failures, pathsArg, requirePaths, withQdb, type QdbToolOpts } from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesdb-rm',
  summary: 'remove QubesDB entries',
  args: [pathsArg('entry to remove, or with a trailing / everything below it (one or more)')],
  options: [DOMAIN_OPTION],
};

export async function run(opts: QdbToolOpts, args: string[], ctx: Context): Promise<number> {
  requirePaths(args);
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    for (const path of args) await failures.attempt(`Failed to remove ${path}`, () => qdb.rm(path));
    return failures.code;
  });
}
