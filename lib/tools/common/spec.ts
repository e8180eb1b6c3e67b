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
  | 'device-option'
  | 'device'
  | 'file'
  | 'column'
  | 'format'
  | 'subcommand'
  | 'driver'
  | 'vm-volume'
  | 'revision'
  | 'firewall-rule'
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
  /**
   * Selects a command's older option-driven form (`qvm-pool -a NAME
   * DRIVER`): when given, no subcommand word is read and the body gets the
   * positionals as they are.
   */
  legacy?: boolean;
}

export interface ArgSpec {
  name: string;
  description: string;
  kind?: ValueKind;
  optional?: boolean;
  variadic?: boolean;
}

/**
 * One action of a command with subcommands (`qvm-pool add ...`). Its
 * options exist only after its word; an option shared by several
 * subcommands must be declared with the same flags in each.
 */
export interface SubcommandSpec {
  name: string;
  aliases?: readonly string[];
  summary: string;
  args: ArgSpec[];
  options: OptionSpec[];
}

export interface CommandSpec {
  name: string;
  /** One line for NAME in the man page and the top of --help. */
  summary: string;
  /**
   * Positionals. With subcommands: the ones before the subcommand word
   * (`qvm-firewall VMNAME list`), usually none.
   */
  args: ArgSpec[];
  /** Options valid with every subcommand (or the only ones). */
  options: OptionSpec[];
  /** Actions picked by a word after `args`; the body sees the canonical name. */
  subcommands?: SubcommandSpec[];
  /** The subcommand used when the word is missing (the reference's `list`). */
  defaultSubcommand?: string;
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

/**
 * Top-level options and every subcommand's, each once: commander parses
 * them all, and which subcommand may use which is checked after parsing.
 */
export function allSpecOptions(spec: CommandSpec): OptionSpec[] {
  const byFlags = new Map<string, OptionSpec>();
  for (const o of [...spec.options, ...(spec.subcommands ?? []).flatMap((s) => s.options)]) if (!byFlags.has(o.flags)) byFlags.set(o.flags, o);
  return [...byFlags.values()];
}

/** A subcommand by name or alias. */
export function findSubcommand(spec: CommandSpec, word: string): SubcommandSpec | undefined {
  return spec.subcommands?.find((s) => s.name === word || s.aliases?.includes(word));
}

/** Every word that selects a subcommand: names and aliases. */
export const subcommandWords = (spec: CommandSpec): string[] => (spec.subcommands ?? []).flatMap((s) => [s.name, ...(s.aliases ?? [])]);
