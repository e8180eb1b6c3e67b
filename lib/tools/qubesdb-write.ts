// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-write: create or replace QubesDB entries.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_write).
 */
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import { DOMAIN_OPTION, Failures, withQdb, type QdbToolOpts } from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesdb-write',
  summary: 'create or replace QubesDB entries',
  args: [{ name: 'PATH VALUE', description: 'entry and its value, one or more pairs', variadic: true }],
  options: [DOMAIN_OPTION],
};

export async function run(opts: QdbToolOpts, args: string[], ctx: Context): Promise<number> {
  if (args.length === 0) throw new UsageError('the following arguments are required: PATH VALUE');
  if (args.length % 2) throw new UsageError('Invalid number of parameters (PATH VALUE pairs expected)');
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    for (let i = 0; i < args.length; i += 2) {
      const path = args[i] as string;
      await failures.attempt(`Failed to write ${path}`, () => qdb.write(path, args[i + 1] as string));
    }
    return failures.code;
  });
}
