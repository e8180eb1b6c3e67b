// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-list: print the paths of the QubesDB entries below a path.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_list).
 */
import type { Context } from './common/program.js';
import { DOMAIN_OPTION, Failures, FULLPATH_OPTION, shownPath, withQdb, type QdbToolOpts } from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesdb-list',
  summary: 'print the paths of the QubesDB entries below a path',
  args: [{ name: 'PATH', description: 'path prefix; it need not end in /' }],
  options: [DOMAIN_OPTION, FULLPATH_OPTION],
};

export async function run(opts: QdbToolOpts, args: string[], ctx: Context): Promise<number> {
  const prefix = args[0] as string;
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    await failures.attempt('Failed to get entries list', async () => {
      for (const path of await qdb.list(prefix)) ctx.out(`${shownPath(opts, prefix, path)}\n`);
    });
    return failures.code;
  });
}
