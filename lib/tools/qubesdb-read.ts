// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubesdb-read: print the values of QubesDB entries.
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c (cmd_read).
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
  withQdb,
  type QdbToolOpts,
} from './common/qubesdb-tool.js';
import type { CommandSpec } from './common/spec.js';
import type { QubesDbClient } from '../vmm/qubesdb/client.js';

export const spec: CommandSpec = {
  name: 'qubesdb-read',
  summary: 'print the values of QubesDB entries',
  args: [pathsArg('entry to read (one or more)')],
  options: [DOMAIN_OPTION, FULLPATH_OPTION, RAW_OPTION, { flags: '-w', description: 'wait until the entry exists (it may be empty)' }],
};

interface Opts extends QdbToolOpts {
  w?: boolean;
}

/** The value, waiting for it to appear with -w (the watch is set before the second look, so no write is missed). */
async function readValue(qdb: QubesDbClient, path: string, wait: boolean): Promise<Buffer | null> {
  let value = await qdb.readBytes(path);
  if (!wait || value !== null) return value;
  await qdb.watch(path);
  while ((value = await qdb.readBytes(path)) === null) await qdb.readWatch();
  return value;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  requirePaths(args);
  return withQdb(opts, ctx, async (qdb) => {
    const failures = new Failures(ctx);
    for (const path of args) {
      await failures.attempt(`Failed to read ${path}`, async () => {
        const value = await readValue(qdb, path, Boolean(opts.w));
        if (value === null) return failures.add(`Failed to read ${path}`);
        if (opts.f) ctx.out(`${path} = `);
        printValue(ctx, opts, value);
        ctx.out('\n');
      });
    }
    return failures.code;
  });
}
