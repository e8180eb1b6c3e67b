// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Usage errors (exit 2) and the single place where errors become exit codes
 * and messages. Reference: qubesadmin/tools/__init__.py (parser.error exits
 * 2, error_runtime exits 1).
 */
import { FirewallRuleSyntaxError, QubesError, QubesNoSuchPropertyError, QubesVMNotFoundError } from '../../errors.js';

/** Wrong invocation: bad option, missing argument, unknown qube or property. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Ends the command with a code and no message (e.g. `qvm-features VM F` when F is absent). */
export class SilentExit extends Error {
  override name = 'SilentExit';
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

const USAGE_CLASSES = [UsageError, QubesNoSuchPropertyError, QubesVMNotFoundError, FirewallRuleSyntaxError];

export function exitCodeFor(err: unknown): number {
  if (err instanceof SilentExit) return err.code;
  if (USAGE_CLASSES.some((c) => err instanceof c)) return 2;
  return 1;
}

/**
 * The one line a user sees. Unexpected errors show their message; the stack
 * only with -vv.
 */
export function errorLine(prog: string, err: unknown, verbose: number): string {
  if (err instanceof QubesError || err instanceof UsageError) return `${prog}: error: ${err.message}`;
  const e = err as Error;
  const base = `${prog}: error: ${e?.message ?? String(err)}`;
  return verbose >= 2 && e?.stack ? `${base}\n${e.stack}` : base;
}
