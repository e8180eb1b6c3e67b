// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Usage errors (exit 2) and the single place where errors become exit codes
 * and messages. Reference: qubesadmin/tools/__init__.py (parser.error exits
 * 2, error_runtime exits 1).
 */
import { FirewallRuleSyntaxError, QubesError, QubesNoSuchPropertyError, QubesVMNotFoundError } from '../../errors.js';
import { isSystemError, systemErrorText } from '../../util/io-error.js';

/** Wrong invocation: bad option, missing argument, unknown qube or property. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** As QubesError's codes (lib/errors.ts). */
  readonly code: string = 'EQUBES_USAGE';
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
 * Control characters of a message shown escaped (`\x01`, `\n`): a message
 * quotes what the user or a file gave, and must stay one line that cannot
 * drive the terminal.
 */
export function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  });
}

/**
 * The one line a user sees. Unexpected errors show their message (a system
 * error in plain words with its path, never an errno code); the stack only
 * with -vv.
 */
export function errorLine(prog: string, err: unknown, verbose: number): string {
  if (err instanceof QubesError || err instanceof UsageError) return `${prog}: error: ${oneLine(err.message)}`;
  const e = err as Error;
  const message = isSystemError(err) ? systemErrorText(err) : (e?.message ?? String(err));
  const base = `${prog}: error: ${oneLine(message)}`;
  return verbose >= 2 && e?.stack ? `${base}\n${e.stack}` : base;
}
