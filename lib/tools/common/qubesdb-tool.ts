// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the qubesdb-* commands share: their options, the connection to the
 * daemon (`-d QUBE`, else the local one), per-path failures reported and
 * counted, and values printed as the reference prints them.
 *
 * Failures name the path as the reference does ("Failed to read PATH"),
 * in this package's `PROG: error: ...` form, and `-q` silences them; the
 * exit code is then still 1.
 *
 * Reference: qubes-core-qubesdb: client/qubesdb-cmd.c;
 * shared/spec/vmm.md §4.5.
 */
import buffer from 'node:buffer';
import { DisconnectedError, QubesDbError } from '../../errors.js';
import { QubesDbClient } from '../../vmm/qubesdb/client.js';
import { SilentExit, UsageError } from './errors.js';
import type { Context } from './program.js';
import type { ArgSpec, OptionSpec } from './spec.js';
const { isUtf8 } = buffer;

export interface QdbToolOpts {
  d?: string;
  f?: boolean;
  r?: boolean;
}

export const DOMAIN_OPTION: OptionSpec = {
  flags: '-d <QUBE>',
  description: "talk to the QubesDB daemon of this qube (dom0's own with dom0); without it, the local daemon",
  kind: 'vm',
};
export const FULLPATH_OPTION: OptionSpec = { flags: '-f', description: 'print full paths' };
export const RAW_OPTION: OptionSpec = { flags: '-r', description: 'print values as they are, without escaping other bytes than printable ASCII' };

export const pathsArg = (description: string): ArgSpec => ({ name: 'PATH', description, variadic: true });

/** At least one positional (commander makes variadic arguments optional). */
export function requirePaths(args: string[], name = 'PATH'): void {
  if (args.length === 0) throw new UsageError(`the following arguments are required: ${name}`);
}

/** Bytes 0x20–0x7f as they are, others as `\xNN` (lower-case hex). */
export function escapeValue(value: Buffer): string {
  let s = '';
  for (const b of value) s += b >= 0x20 && b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

/** Print a value: escaped, or with -r its bytes exactly (not every value is UTF-8). */
export function printValue(ctx: Context, opts: QdbToolOpts, value: Buffer): void {
  if (!opts.r) ctx.out(escapeValue(value));
  else if (isUtf8(value)) ctx.out(value.toString('utf8'));
  else ctx.session.streams.stdout().write(value);
}

/** The part of a path printed without -f: what follows the path given on the command line. */
export const shownPath = (opts: QdbToolOpts, given: string, found: string): string => (opts.f ? found : found.slice(given.length));

/** Counts failures; prints each unless -q. */
export class Failures {
  count = 0;
  constructor(private readonly ctx: Context) {}
  add(message: string, cause?: unknown): void {
    this.count++;
    if (this.ctx.verbose < 0) return;
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    this.ctx.err(`${this.ctx.prog}: error: ${message}${why}\n`);
  }
  /**
   * Run one step; a QubesDB failure (refusal, lost connection) is counted
   * and reported as `message` with its reason, anything else propagates.
   * Returns whether the step succeeded.
   */
  async attempt(message: string, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (e) {
      if (!(e instanceof QubesDbError)) throw e;
      this.add(message, e);
      return false;
    }
  }
  /** Exit code: 1 when anything failed. */
  get code(): number {
    return this.count > 0 ? 1 : 0;
  }
}

/**
 * Run `body` with a connection to the daemon, closed afterwards. A daemon
 * that does not answer is an error (silent with -q, exit 1).
 */
export async function withQdb(opts: QdbToolOpts, ctx: Context, body: (qdb: QubesDbClient) => Promise<number>): Promise<number> {
  let qdb: QubesDbClient;
  try {
    qdb = await QubesDbClient.open(opts.d ?? null, { env: ctx.env });
  } catch (e) {
    if (e instanceof DisconnectedError && ctx.verbose < 0) throw new SilentExit(1);
    throw e;
  }
  try {
    return await body(qdb);
  } finally {
    qdb.close();
  }
}
