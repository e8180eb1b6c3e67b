// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-multiread: print every QubesDB entry below some paths, as
 * `PATH = VALUE` lines.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_multiread).
 */
import type { Context } from './common/program.js';
import {
  DOMAIN_OPTION,
  Failures,
  FULLPATH_OPTION,
  pathsArg,
  printValue,
  RAW_OPTION,
  requirePaths,
  shownPath,
  withQdb,
  type QdbToolOpts,
} from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubesdb-multiread',
  summary: 'print every QubesDB entry whose path starts with the given ones',
  args: [pathsArg('path prefix (one or more); it need not end in /')],
  options: [DOMAIN_OPTION, FULLPATH_OPTION, RAW_OPTION],
};

export async function run(opts: QdbToolOpts, args: string[], ctx: Context): Promise<number> {
  requirePaths(args);
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    for (const prefix of args) {
      await failures.attempt(`Failed to read ${prefix}`, async () => {
        for (const [path, value] of await qdb.multireadBytes(prefix)) {
          ctx.out(`${shownPath(opts, prefix, path)} = `);
          printValue(ctx, opts, value);
          ctx.out('\n');
        }
      });
    }
    return failures.code;
  });
}
