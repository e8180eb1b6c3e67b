// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Machine-readable output, shared by every command that lists or shows:
 * the `--format text|json` option and the one writer of JSON documents.
 *
 * The rules every command's JSON keeps (and its man page's JSON OUTPUT
 * section lists the keys of): a list is an array of objects, a show or get
 * one object; key names are stable and always present; a missing value is
 * `null` (never the `-` or empty cell a table shows); numbers are numbers
 * and booleans booleans, taken from the library's typed values; the
 * document ends with a newline. Errors still go to standard error with the
 * usual exit codes.
 */
import { UsageError } from './errors.js';
import type { Context } from './program.js';
import type { OptionSpec } from './spec.js';

/** The value of `--format` (and of qvm-ls's `-o`) that selects JSON. */
export const JSON_FORMAT = 'json';

/** The `--format` choices of commands that print either a table (or lines) or JSON. */
export const OUTPUT_FORMATS = ['text', JSON_FORMAT] as const;

/**
 * `--format text|json`. Commands with subcommands declare this very object
 * on each subcommand that prints (the parser takes options shared by
 * subcommands by their flags).
 */
export const FORMAT_OPTION: OptionSpec = {
  flags: '--format <FORMAT>',
  description: 'text (the default) or json: one JSON document, keys as in JSON OUTPUT',
  kind: 'format',
  choices: OUTPUT_FORMATS,
};

/** A value of a JSON document: what JSON.stringify writes as it is. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface FormatOpts {
  format?: string;
}

/** Whether the command was asked for JSON. */
export const wantsJson = (opts: FormatOpts): boolean => opts.format === JSON_FORMAT;

/** Refuse `--format json` where the command prints nothing to read (a change). @throws UsageError */
export function refuseJson(opts: FormatOpts, what: string): void {
  if (wantsJson(opts)) throw new UsageError(`--format json applies to listing and showing only, not to ${what}`);
}

/** `undefined` (no value) as JSON's null: the one spelling of "missing". */
export const orNull = <T extends JsonValue>(v: T | undefined): T | null => (v === undefined ? null : v);

/** Write one JSON document to standard output, indented as qvm-ls has always printed it, ending with a newline. */
export function writeJson(ctx: Pick<Context, 'out'>, doc: JsonValue): void {
  ctx.out(`${JSON.stringify(doc, null, 2)}\n`);
}
