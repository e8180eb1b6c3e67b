// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The one description of a command's arguments and options. The commander
 * program, `--help`, the man page (scripts/gen-docs.ts) and the bash
 * completion are all derived from it, so they cannot drift apart.
 */

/** What an argument or option value names, so completion can offer it. */
export type ValueKind =
  | 'vm'
  | 'label'
  | 'class'
  | 'vm-property'
  | 'global-property'
  | 'property-value'
  | 'feature'
  | 'service'
  | 'tag'
  | 'tags-command'
  | 'pool'
  | 'device-class'
  | 'device-command'
  | 'device-option'
  | 'device-arg'
  | 'file'
  | 'column'
  | 'format'
  | 'text';

export interface OptionSpec {
  /** commander flags, e.g. `-l, --label <LABEL>` */
  flags: string;
  description: string;
  kind?: ValueKind;
  choices?: readonly string[];
  hidden?: boolean;
  /** May be given several times; values collect into an array. */
  repeatable?: boolean;
  /** Counted flag (-vv). */
  count?: boolean;
  /** Handled by commander before arguments are checked (`--version`). */
  version?: boolean;
}

export interface ArgSpec {
  name: string;
  description: string;
  kind?: ValueKind;
  optional?: boolean;
  variadic?: boolean;
}

export interface CommandSpec {
  name: string;
  /** One line for NAME in the man page and the top of --help. */
  summary: string;
  args: ArgSpec[];
  options: OptionSpec[];
}

/** Options every command has (reference qubesadmin/tools/__init__.py, plus --offline-mode). */
export const COMMON_OPTIONS: OptionSpec[] = [
  { flags: '-v, --verbose', description: 'increase verbosity', count: true },
  { flags: '-q, --quiet', description: 'decrease verbosity', count: true },
  {
    flags: '--offline-mode',
    description: 'do not contact the hypervisor: every qube but dom0 reads as Halted (also QUBES_OFFLINE_MODE=1, and automatic in a chroot)',
  },
  { flags: '--version', description: 'show the version of the tools and exit', version: true },
  { flags: '--force-root', description: 'accepted for compatibility; ignored', hidden: true },
];
