// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Generates the man pages (man/COMMAND.1, man/DAEMON.8; package.json's `man`
 * field names them) and the bash completion
 * (completions/qubes-tools.bash) from the command specs, the property
 * tables and man/src/COMMAND.md.
 *
 *   node dist/scripts/gen-docs.js           write the files
 *   node dist/scripts/gen-docs.js --check   write nothing; exit 1 listing the
 *                                           files that differ (CI, tests)
 *
 * Every command in registry COMMANDS must load; one that does not stops
 * the generation with an error naming its module. Output is deterministic:
 * no dates, no environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GLOBAL_PROPERTIES } from '../lib/app/global-properties.js';
import { BUILTIN_COLUMNS, FORMATS, propertyColumns, type Column, type JsonType } from '../lib/listing/columns.js';
import { allSpecOptions, COMMON_OPTIONS, subcommandWords, type ArgSpec, type CommandSpec, type OptionSpec, type SubcommandSpec, type ValueKind } from '../lib/tools/common/spec.js';
import { DRIVER_NAMES } from '../lib/storage/driver-names.js';
import { DEVICE_CLASSES } from '../lib/devices/model.js';
import { DEVICE_OPTION_WORDS } from '../lib/tools/common/device-command.js';
import { ACTIONS, PROTOS, SPECIAL_TARGETS } from '../lib/firewall/rule.js';
import { RULE_WORD_KEYS } from '../lib/firewall/rule-words.js';
import { TAG_COMMANDS } from '../lib/tools/qvm-tags.js';
import { wrapWords as wrapProse } from '../lib/tools/common/text.js';
import { COMMANDS, loadSpec } from '../lib/tools/registry.js';
import { methodTable } from '../lib/daemon/method-table.js';
import { adminApiFiles } from '../lib/daemon/policy.js';
import type { PropertyDef } from '../lib/vm/property.js';
import { allVmPropertyNames, CREATABLE_CLASSES, propertiesFor, VM_CLASSES } from '../lib/vm/vm-properties.js';

/** Repository root: this file runs as dist/scripts/gen-docs.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPLETION_FILE = path.join('completions', 'qubes-tools.bash');
/** The qrexec policy and /etc/qubes-rpc list made from qubesd's method table (lib/daemon/policy.ts). */
export const ADMIN_API_DIR = 'admin-api';
const ENGINE_FILE = path.join('scripts', 'completion-engine.bash');

/**
 * Man page section of a command: 8 (system administration, daemons) for the
 * daemons, which run as root at qube start; 1 for the user commands.
 */
const SECTION_8 = new Set(['qubesd', 'qubesdb-daemon']);
export const manSection = (name: string): '1' | '8' => (SECTION_8.has(name) ? '8' : '1');

/** man/NAME.SECTION, relative to the repository root. */
export const manPagePath = (name: string): string => path.join('man', `${name}.${manSection(name)}`);

/** The help option commander adds to every command (program.ts). */
const HELP_OPTION: OptionSpec = { flags: '-h, --help', description: 'show this help message and exit' };

/** Columns qvm-ls accepts by name: the built-in ones and the property columns of its formats. */
const COLUMN_WORDS = [...new Set([...BUILTIN_COLUMNS.map((c) => c.head), ...Object.values(FORMATS).flat()])].sort();

export interface LoadedCommand {
  name: string;
  spec: CommandSpec;
}

const readPackageJson = (): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;

/**
 * package.json with its `man` field naming the generated pages (npm links
 * them into its man directories on `npm install -g`); every other field as it
 * is, in npm's formatting.
 */
function packageJsonWithMan(pages: string[]): string {
  const pkg = readPackageJson();
  pkg.man = pages.map((p) => `./${p.split(path.sep).join('/')}`).sort();
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/** Load every command of the registry. @throws Error naming the module that does not load */
export async function loadCommands(): Promise<LoadedCommand[]> {
  const out: LoadedCommand[] = [];
  for (const name of COMMANDS) {
    try {
      out.push({ name, spec: await loadSpec(name) });
    } catch (e) {
      throw new Error(`gen-docs: cannot load command ${name} (lib/tools/${name}.ts): ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* Option flags                                                        */
/* ------------------------------------------------------------------ */

interface ParsedFlags {
  /** Every spelling: ['-l', '--label'] */
  names: string[];
  /** Value placeholder, e.g. 'LABEL', when the option takes one. */
  value?: string;
  /** The value is optional (`[X]`). */
  optionalValue: boolean;
}

/** `<X...>`: commander takes every following non-option word as a value. */
const isVariadicValue = (value: string | undefined) => Boolean(value?.endsWith('...') && !value.endsWith(',...'));
/** `<X,...>`: one comma-separated word. */
const isListValue = (value: string | undefined) => Boolean(value?.endsWith(',...'));

export function parseFlags(flags: string): ParsedFlags {
  const names: string[] = [];
  let value: string | undefined;
  let optionalValue = false;
  // tokens: <...> and [...] whole (they may hold ',' or '|'), else split at ' ', ',' and '|'
  for (const part of flags.match(/<[^>]*>|\[[^\]]*\]|[^\s,|]+/g) ?? []) {
    if (part.startsWith('-')) names.push(part);
    else if (/^<.*>$/.test(part)) value = part.slice(1, -1);
    else if (/^\[.*\]$/.test(part)) {
      value = part.slice(1, -1);
      optionalValue = true;
    }
  }
  return { names, value, optionalValue };
}

const allOptions = (spec: CommandSpec): OptionSpec[] => [...allSpecOptions(spec), ...COMMON_OPTIONS, HELP_OPTION];

/* ------------------------------------------------------------------ */
/* Man pages                                                           */
/* ------------------------------------------------------------------ */

/** Escape text for roff: backslashes, hyphens (as minus), non-ASCII as \[uXXXX]. */
export function roffEscape(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** Protect a line that would start with a control character. */
const protectLine = (line: string): string => (/^[.']/.test(line) ? `\\&${line}` : line);

/** Inline markdown (`code`, **bold**, *italic*) on already-escaped text. */
function inline(text: string): string {
  return roffEscape(text)
    .replace(/`([^`]+)`/g, '\\fB$1\\fR')
    .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR')
    .replace(/(^|[^\w*])\*([^*\s][^*]*)\*(?=$|[^\w*])/g, '$1\\fI$2\\fR')
    .replace(/(^|[^\w])_([^_\s][^_]*)_(?=$|[^\w])/g, '$1\\fI$2\\fR');
}

/** Fill-mode text: one roff line per source line, trimmed and protected. */
const textLines = (lines: string[]): string[] => lines.map((l) => protectLine(inline(l.trim())));

/** Literal lines for .nf/.fi blocks. */
const literalLines = (lines: string[]): string[] => lines.map((l) => protectLine(roffEscape(l)) || '\\&');

/** Convert man/src/COMMAND.md to roff sections. */
export function markdownToRoff(md: string): string[] {
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let i = 0;
  const isIndented = (l: string) => /^( {4}|\t)/.test(l);
  const blank = (l: string | undefined) => l === undefined || l.trim() === '';
  while (i < lines.length) {
    const line = lines[i] as string;
    if (blank(line)) {
      i++;
      continue;
    }
    let m: RegExpMatchArray | null;
    if (/^<!--.*-->\s*$/.test(line)) {
      // a comment of the source (the marks of generated parts)
      i++;
      continue;
    }
    if ((m = line.match(/^#\s+(.*)$/))) {
      // document title: the NAME section already says it
      i++;
      continue;
    }
    if ((m = line.match(/^##\s+(.*?)\s*#*$/))) {
      out.push(`.SH "${roffEscape((m[1] as string).toUpperCase()).replace(/"/g, "''")}"`);
      i++;
      continue;
    }
    if ((m = line.match(/^###+\s+(.*?)\s*#*$/))) {
      out.push(`.SS "${roffEscape(m[1] as string).replace(/"/g, "''")}"`);
      i++;
      continue;
    }
    if (/^```/.test(line)) {
      const block: string[] = [];
      i++;
      while (i < lines.length && !/^```/.test(lines[i] as string)) block.push(lines[i++] as string);
      i++;
      out.push('.PP', '.nf', '.RS 4', ...literalLines(block), '.RE', '.fi');
      continue;
    }
    if (line.startsWith('$ ') || isIndented(line)) {
      // a shell example (until a blank line) or an indented block
      const block: string[] = [];
      const indented = isIndented(line);
      while (i < lines.length) {
        const l = lines[i] as string;
        if (indented) {
          if (blank(l)) {
            // a blank line inside an indented block continues it if more indented lines follow
            let j = i;
            while (j < lines.length && blank(lines[j])) j++;
            if (j < lines.length && isIndented(lines[j] as string)) {
              for (; i < j; i++) block.push('');
              continue;
            }
            break;
          }
          if (!isIndented(l)) break;
          block.push(l.replace(/^( {4}|\t)/, ''));
        } else {
          if (blank(l)) break;
          block.push(l);
        }
        i++;
      }
      out.push('.PP', '.nf', '.RS 4', ...literalLines(block), '.RE', '.fi');
      continue;
    }
    if (/^[-*] /.test(line)) {
      while (i < lines.length && /^[-*] /.test(lines[i] as string)) {
        const item = [(lines[i] as string).slice(2)];
        i++;
        while (i < lines.length && /^ {2,}\S/.test(lines[i] as string) && !/^ {4}/.test(lines[i] as string)) item.push(lines[i++] as string);
        out.push('.IP \\(bu 2', ...textLines(item));
        while (i < lines.length && blank(lines[i]) && /^[-*] /.test(lines[i + 1] ?? '')) i++;
      }
      continue;
    }
    const para: string[] = [];
    while (i < lines.length) {
      const l = lines[i] as string;
      if (blank(l) || /^#{1,6}\s/.test(l) || /^[-*] /.test(l) || l.startsWith('$ ') || /^```/.test(l)) break;
      para.push(l);
      i++;
    }
    out.push('.PP', ...textLines(para));
  }
  return out;
}

function synopsisArg(a: ArgSpec): string {
  const n = `\\fI${roffEscape(a.name)}\\fR${a.variadic ? ' ...' : ''}`;
  return a.optional || a.variadic ? `[${n}]` : n;
}

function optionHeading(o: OptionSpec): string {
  const { names, value, optionalValue } = parseFlags(o.flags);
  const flags = names.map((n) => `\\fB${roffEscape(n)}\\fR`).join(', ');
  if (!value) return flags;
  const v = `\\fI${roffEscape(value)}\\fR`;
  return `${flags} ${optionalValue ? `[${v}]` : v}`;
}

function optionItem(o: OptionSpec): string[] {
  let desc = inline(o.description);
  if (o.choices?.length) desc += `\n.br\nChoices: ${o.choices.map((c) => `\\fB${roffEscape(c)}\\fR`).join(', ')}.`;
  if (o.repeatable || o.count) desc += '\n.br\nMay be given more than once.';
  return ['.TP', optionHeading(o), protectLine(desc)];
}

const argItem = (a: ArgSpec): string[] => ['.TP', `\\fI${roffEscape(a.name)}\\fR`, protectLine(inline(a.description))];

/** One synopsis line per subcommand (or one for a plain command). */
function synopsis(spec: CommandSpec): string[] {
  const head = [`.B ${roffEscape(spec.name)}`];
  const lead = ['[\\fIOPTIONS\\fR]', ...spec.args.map(synopsisArg)];
  if (!spec.subcommands) return [...head, protectLine(lead.join(' '))];
  return spec.subcommands.flatMap((sub, i) => [
    ...(i ? ['.br'] : []),
    ...head,
    protectLine([...lead, `\\fB${roffEscape(sub.name)}\\fR`, ...sub.args.map(synopsisArg)].join(' ')),
  ]);
}

function subcommandSection(spec: CommandSpec, sub: SubcommandSpec): string[] {
  const aliases = sub.aliases?.length ? ` (also ${sub.aliases.map((a) => `\\fB${roffEscape(a)}\\fR`).join(', ')})` : '';
  const dflt = sub.name === spec.defaultSubcommand ? '; the default' : '';
  const out = ['.TP', `\\fB${roffEscape(sub.name)}\\fR${aliases}`, protectLine(inline(sub.summary) + dflt)];
  const items = [...sub.args.flatMap(argItem), ...sub.options.filter((o) => !o.hidden).flatMap(optionItem)];
  if (items.length) out.push('.RS', ...items, '.RE');
  return out;
}

export function manPage(spec: CommandSpec, version: string, mdSource: string | undefined): string {
  const out: string[] = [];
  out.push(`.\\" Generated by scripts/gen-docs.ts from lib/tools/${spec.name}.ts and man/src/${spec.name}.md; do not edit.`);
  out.push(`.TH "${roffEscape(spec.name.toUpperCase())}" "${manSection(spec.name)}" "" "qubes\\-dom0\\-tools ${roffEscape(version)}" "Qubes OS dom0 tools"`);
  out.push('.SH NAME', `${roffEscape(spec.name)} \\- ${inline(spec.summary)}`);
  out.push('.SH SYNOPSIS', ...synopsis(spec));
  if (spec.args.length) out.push('.SH ARGUMENTS', ...spec.args.flatMap(argItem));
  if (spec.subcommands) out.push('.SH COMMANDS', ...spec.subcommands.flatMap((sub) => subcommandSection(spec, sub)));
  out.push('.SH OPTIONS');
  for (const o of [...spec.options, ...COMMON_OPTIONS, HELP_OPTION]) if (!o.hidden) out.push(...optionItem(o));
  if (mdSource !== undefined) out.push(...markdownToRoff(mdSource));
  return out.join('\n') + '\n';
}

/* ------------------------------------------------------------------ */
/* Bash completion                                                     */
/* ------------------------------------------------------------------ */

/** How the completion offers a value. */
type ValueSource = { words: readonly string[] } | { fn: string } | { call: string } | { file: true } | null;

const bashFnId = (name: string) => name.replace(/[^A-Za-z0-9]/g, '_');

/** Quote a word for bash (single quotes). */
const shq = (s: string) => (/^[A-Za-z0-9_.,:/=+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function kindSource(kind: ValueKind | undefined, cmd: LoadedCommand): ValueSource | string {
  switch (kind) {
    case 'vm':
      return { fn: '_qubes_tools_vms' };
    case 'label':
      return { fn: '_qubes_tools_labels' };
    case 'class':
      return { words: /create/.test(cmd.name) ? CREATABLE_CLASSES : VM_CLASSES };
    case 'vm-property':
      return { fn: '_qubes_tools_vm_property_names' };
    case 'global-property':
      return { fn: '_qubes_tools_global_property_names' };
    case 'property-value':
      // resolved at completion time from the PROPERTY positional
      return 'property-value';
    case 'feature':
      return { fn: '_qubes_tools_features' };
    case 'service':
      return { fn: '_qubes_tools_services' };
    case 'tag':
      return { fn: '_qubes_tools_tags' };
    case 'tags-command':
      return { words: Object.keys(TAG_COMMANDS) };
    case 'pool':
      return { fn: '_qubes_tools_pools' };
    case 'device-class':
      return { words: DEVICE_CLASSES };
    case 'device-option':
      return { words: DEVICE_OPTION_WORDS };
    case 'device':
      return { fn: '_qubes_tools_devices' };
    case 'file':
      return { file: true };
    case 'column':
      return { words: COLUMN_WORDS };
    case 'subcommand':
      return { words: subcommandWords(cmd.spec) };
    case 'driver':
      return { words: DRIVER_NAMES };
    case 'vm-volume':
      return { fn: '_qubes_tools_vm_volumes' };
    case 'revision':
      return { fn: '_qubes_tools_revisions' };
    case 'firewall-rule':
      return { call: '_qubes_tools_firewall_rule' };
    case 'format':
    case 'text':
    case undefined:
      return null;
  }
}

/** The bash snippet that fills COMPREPLY for a value source. */
function sourceAction(src: ValueSource | string, list = false): string {
  const reply = list ? '_qubes_tools_reply_list' : '_qubes_tools_reply';
  if (src === null) return 'return 0';
  if (typeof src === 'string') return '_qubes_tools_property_value';
  if ('words' in src) return `${reply} ${src.words.map(shq).join(' ')}`;
  if ('fn' in src) return `_qubes_tools_reply_lines ${reply} ${src.fn}`;
  if ('call' in src) return src.call;
  return '_qubes_tools_files';
}

/** Completion of a property's value, by its definition. */
function propertyValueSource(def: PropertyDef<never>): string | undefined {
  if (def.stateless || def.forbidden) return undefined;
  if (def.choices?.length) return `_qubes_tools_reply ${def.choices.map(shq).join(' ')}`;
  if (def.name === 'virt_mode') return '_qubes_tools_reply hvm pv pvh';
  switch (def.type) {
    case 'bool':
      return '_qubes_tools_reply True False';
    case 'vm':
      return sourceAction({ fn: '_qubes_tools_vms' });
    case 'label':
      return sourceAction({ fn: '_qubes_tools_labels' });
    case 'pool':
      return sourceAction({ fn: '_qubes_tools_pools' });
    default:
      return undefined;
  }
}

/** `case` arms mapping property names to value completions (grouped, sorted). */
function propertyValueCase(defs: Iterable<PropertyDef<never>>): string[] {
  const byAction = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const d of defs) {
    if (seen.has(d.name)) continue;
    seen.add(d.name);
    const action = propertyValueSource(d);
    if (!action) continue;
    byAction.set(action, [...(byAction.get(action) ?? []), d.name]);
  }
  return [...byAction.entries()]
    .map(([action, names]) => [action, names.sort()] as const)
    .sort((a, b) => (a[1][0] as string).localeCompare(b[1][0] as string))
    .map(([action, names]) => `    ${names.join('|')}) ${action} ;;`);
}

function vmPropertyDefs(): PropertyDef<never>[] {
  const defs: PropertyDef<never>[] = [];
  for (const k of VM_CLASSES) for (const d of propertiesFor(k).values()) defs.push(d as unknown as PropertyDef<never>);
  return defs;
}

const wrapWords = (words: readonly string[], indent: string): string => {
  const lines: string[] = [];
  let cur = '';
  for (const w of words.map(shq)) {
    if (cur && cur.length + w.length + 1 > 72) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.map((l) => indent + l).join(' \\\n');
};

/**
 * The completion engine (store readers, replies, the walk over the command
 * line), a real bash file that shellcheck checks: scripts/completion-engine.bash
 * without its header (the lines up to the first blank line).
 */
function completionEngine(): string {
  const text = fs.readFileSync(path.join(ROOT, ENGINE_FILE), 'utf8');
  const body = text.indexOf('\n\n');
  if (body < 0) throw new Error(`gen-docs: ${ENGINE_FILE} has no header followed by a blank line`);
  return text.slice(body + 2).trimEnd();
}

function commandCompletion(cmd: LoadedCommand): string {
  const id = bashFnId(cmd.name);
  const fn = (name: string, body: string[]) => [`_qubes_tools_${id}_${name}() {`, ...body, '}'].join('\n');
  const extra: string[] = [];
  const argkindPrefix: string[] = [];
  const spec = cmd.spec;
  const opts = allOptions(spec);
  const flagWords = opts.filter((o) => !o.hidden).flatMap((o) => parseFlags(o.flags).names);
  const optargArms: string[] = [];
  const optvalueArms: string[] = [];
  for (const o of opts) {
    const f = parseFlags(o.flags);
    if (!f.value || f.optionalValue) continue;
    const pattern = f.names.join('|');
    const src: ValueSource | string = o.choices?.length ? { words: o.choices } : kindSource(o.kind, cmd);
    const kind = [o.kind ?? 'text', ...(isVariadicValue(f.value) ? ['variadic'] : []), ...(isListValue(f.value) ? ['list'] : [])];
    optargArms.push(`    ${pattern}) echo ${shq(kind.join(' '))} ;;`);
    optvalueArms.push(`    ${pattern}) ${sourceAction(src === 'property-value' ? null : src, isListValue(f.value))} ;;`);
  }
  const argkindArms: string[] = [];
  const positionalArms: string[] = [];
  const addArgs = (args: ArgSpec[], arm: (pattern: string) => string, offset = 0) =>
    args.forEach((a, idx) => {
      const pattern = arm(idx === args.length - 1 && a.variadic ? '*' : String(idx + offset));
      argkindArms.push(`    ${pattern}) echo ${shq(a.kind ?? 'text')} ;;`);
      positionalArms.push(`    ${pattern}) ${sourceAction(kindSource(a.kind, cmd))} ;;`);
    });
  if (!spec.subcommands) addArgs(spec.args, (p) => p);
  else {
    // positionals: the leading ones, the subcommand word, then that subcommand's
    const lead = spec.args.length;
    addArgs([...spec.args, { name: 'COMMAND', description: '', kind: 'subcommand' }], (p) => `:${p}`);
    for (const sub of spec.subcommands) addArgs(sub.args, (p) => `${sub.name}:${p}`);
    const subArms = spec.subcommands.map((sub) => `    ${[sub.name, ...(sub.aliases ?? [])].map(shq).join('|')}) echo ${shq(sub.name)} ;;`);
    const key = `"$(_qubes_tools_${id}_sub "\${_qt_args[${lead}]-}"):$(($1 - ${lead + 1}))"`;
    // leading positionals and the word are keyed ':N', the rest 'SUB:N'
    const keyLine = `    if (($1 <= ${lead})); then set -- ":$1"; else set -- ${key}; fi`;
    extra.push(fn('sub', ['  case $1 in', ...subArms, '    *) echo - ;;', '  esac']), '');
    argkindPrefix.push(keyLine);
  }
  const caseFn = (name: string, arms: string[], dflt: string, prefix: string[] = []) =>
    fn(name, [...prefix, '  case $1 in', ...arms, ...(arms.some((l) => l.startsWith('    *)')) ? [] : [`    *) ${dflt} ;;`]), '  esac']);
  return [
    `# --- ${cmd.name} ---`,
    '',
    fn('flags', ['  printf \'%s\\n\' \\', wrapWords(flagWords, '    ')]),
    '',
    caseFn('optarg', optargArms, 'return 1'),
    '',
    caseFn('optvalue', optvalueArms, 'return 0'),
    '',
    ...extra,
    caseFn('argkind', argkindArms, 'echo none', argkindPrefix),
    '',
    caseFn('positional', positionalArms, 'return 0', argkindPrefix),
    '',
    `_qubes_tools_${id}() {`,
    `  _qubes_tools_complete ${id}`,
    '}',
    `complete -F _qubes_tools_${id} ${cmd.name}`,
  ].join('\n');
}

/**
 * RULE words of qvm-firewall (lib/firewall): actions and protocols as bare
 * words, `KEY=` (no space follows), and after `KEY=` the values of KEY
 * (bash splits the word at `=`, so KEY is two words back).
 */
function firewallRuleCompletion(): string[] {
  const bare = [...ACTIONS, ...PROTOS];
  const keys = RULE_WORD_KEYS.map((k) => `${k}=`);
  return [
    '# --- firewall rule words (lib/firewall/rule.ts, rule-words.ts) ---',
    '',
    '_qubes_tools_firewall_rule() {',
    '  local key=""',
    '  if [[ $cur == = ]]; then',
    '    key=$prev',
    '    cur=""',
    '  elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then',
    '    key=${COMP_WORDS[COMP_CWORD - 2]}',
    '  fi',
    '  case $key in',
    '    "")',
    `      _qubes_tools_reply ${[...bare, ...keys].map(shq).join(' ')}`,
    '      [[ " ${COMPREPLY[*]-} " == *"= "* ]] && compopt -o nospace 2>/dev/null',
    '      ;;',
    `    action) _qubes_tools_reply ${ACTIONS.map(shq).join(' ')} ;;`,
    `    proto) _qubes_tools_reply ${PROTOS.map(shq).join(' ')} ;;`,
    `    specialtarget) _qubes_tools_reply ${SPECIAL_TARGETS.map(shq).join(' ')} ;;`,
    '  esac',
    '  return 0',
    '}',
  ];
}

export function bashCompletion(cmds: LoadedCommand[]): string {
  const vmNames = allVmPropertyNames();
  const globalNames = [...new Set(GLOBAL_PROPERTIES.map((d) => d.name))].sort();
  const parts = [
    '# shellcheck shell=bash',
    '# bash completion for the Qubes OS dom0 tools',
    '# Generated by scripts/gen-docs.ts (npm run gen-docs) from the command specs',
    '# and scripts/completion-engine.bash; do not edit.',
    `# Commands: ${cmds.map((c) => c.name).join(' ')}`,
    '# Qube names, labels, features, tags and pools are read from',
    '# ${QUBES_XML_PATH:-/var/lib/qubes/qubes.xml} with sed; property names,',
    '# property value types and classes are embedded here.',
    '',
    completionEngine(),
    '',
    '# --- property tables (lib/vm/vm-properties.ts, lib/app/global-properties.ts) ---',
    '',
    '_qubes_tools_vm_property_names() {',
    "  printf '%s\\n' \\",
    wrapWords(vmNames, '    '),
    '}',
    '',
    '_qubes_tools_global_property_names() {',
    "  printf '%s\\n' \\",
    wrapWords(globalNames, '    '),
    '}',
    '',
    '_qubes_tools_vm_property_value() {',
    '  case $1 in',
    ...propertyValueCase(vmPropertyDefs()),
    '  esac',
    '  return 0',
    '}',
    '',
    '_qubes_tools_global_property_value() {',
    '  case $1 in',
    ...propertyValueCase(GLOBAL_PROPERTIES as unknown as PropertyDef<never>[]),
    '  esac',
    '  return 0',
    '}',
    '',
    ...firewallRuleCompletion(),
    '',
    ...cmds.map((c) => commandCompletion(c) + '\n'),
  ];
  return parts.join('\n').replace(/\n*$/, '\n');
}

/* ------------------------------------------------------------------ */
/* Generated parts of man/src pages                                    */
/* ------------------------------------------------------------------ */

/** "string", "number or null", "string, number or null". */
const typesPhrase = (types: readonly JsonType[]): string =>
  types.length < 2 ? types.join('') : `${types.slice(0, -1).join(', ')} or ${types.at(-1) as string}`;

/** A markdown bullet wrapped to the width of the hand-written prose, continued with two spaces. */
const bullet = (text: string): string => `${wrapProse(`- ${text}`, 76).join('\n  ')}\n`;

/** The built-in columns of qvm-ls as JSON keys: head, JSON types, what the value is. */
const lsJsonColumns = (): string => BUILTIN_COLUMNS.map((c) => bullet(`\`${c.head}\` (${typesPhrase(c.json)}): ${c.jsonDoc ?? c.doc}`)).join('');

/** What the property columns of each JSON type hold, in the order the man page lists them. */
const PROPERTY_KINDS: ReadonlyMap<JsonType, string> = new Map<JsonType, string>([
  ['number', 'integer properties'],
  ['boolean', 'boolean properties'],
  ['string', 'the others: text, and a qube, label or pool as its name'],
]);

/** The property columns of qvm-ls as JSON keys, one bullet per JSON type. @throws Error for a column of another type */
function lsJsonProperties(): string {
  const cols = propertyColumns();
  const other = cols.find((c) => !PROPERTY_KINDS.has(c.json[0] as JsonType));
  if (other) throw new Error(`gen-docs: property column ${other.head} is a ${typesPhrase(other.json)}, which qvm-ls(1) does not list`);
  return [...PROPERTY_KINDS]
    .map(([type, kind]) => ({ kind, of: cols.filter((c) => c.json[0] === type) }))
    .filter(({ of }) => of.length > 0)
    .map(({ kind, of }) => bullet(`${of.map((c) => `\`${c.head}\``).join(', ')} (${typesPhrase((of[0] as Column).json)}): ${kind}.`))
    .join('');
}

/**
 * Parts of man/src pages that gen-docs writes from the code they describe,
 * between a line `<!-- gen-docs: NAME -->` and a line `<!-- end gen-docs -->`:
 * the prose around them is written by hand, the lists stay in step with
 * the code (and --check fails when they do not).
 */
const GENERATED_PARTS: Record<string, () => string> = {
  'qvm-ls-json-columns': lsJsonColumns,
  'qvm-ls-json-properties': lsJsonProperties,
};

/** A man/src page with its generated parts written anew. @throws Error for a part gen-docs does not know */
function withGeneratedParts(md: string): string {
  return md.replace(/^<!-- gen-docs: ([\w-]+) -->\n[\s\S]*?^<!-- end gen-docs -->$/gm, (_all, name: string) => {
    const part = GENERATED_PARTS[name];
    if (!part) throw new Error(`gen-docs: no generated part '${name}'`);
    return `<!-- gen-docs: ${name} -->\n${part()}<!-- end gen-docs -->`;
  });
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

/** Every file to generate, relative path → content. */
export async function generate(): Promise<Map<string, string>> {
  const cmds = await loadCommands();
  const version = String(readPackageJson().version ?? '');
  const files = new Map<string, string>();
  for (const c of cmds) {
    const src = path.join('man', 'src', `${c.name}.md`);
    const md = fs.existsSync(path.join(ROOT, src)) ? withGeneratedParts(fs.readFileSync(path.join(ROOT, src), 'utf8')) : undefined;
    if (md !== undefined) files.set(src, md);
    files.set(manPagePath(c.name), manPage(c.spec, version, md));
  }
  files.set(COMPLETION_FILE, bashCompletion(cmds));
  for (const [rel, content] of adminApiFiles(methodTable())) files.set(path.join(ADMIN_API_DIR, rel), content);
  files.set('package.json', packageJsonWithMan(cmds.map((c) => manPagePath(c.name))));
  return files;
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    process.stderr.write(`usage: gen-docs [--check]\n`);
    return 2;
  }
  const files = await generate();
  const differ: string[] = [];
  for (const [rel, content] of files) {
    const abs = path.join(ROOT, rel);
    const old = fs.existsSync(abs) ? fs.readFileSync(abs, 'utf8') : undefined;
    if (old === content) continue;
    differ.push(rel);
    if (!check) {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    }
  }
  // man pages of commands that are no longer in the registry, or in another section
  const manDir = path.join(ROOT, 'man');
  for (const f of fs.existsSync(manDir) ? fs.readdirSync(manDir).sort() : []) {
    const page = /^(.+)\.([1-9])$/.exec(f);
    if (!page || (COMMANDS.includes(page[1] as string) && manSection(page[1] as string) === page[2])) continue;
    const rel = path.join('man', f);
    differ.push(`${rel} (stale)`);
    if (!check) fs.rmSync(path.join(ROOT, rel));
  }
  if (check) {
    if (differ.length) {
      process.stderr.write(`gen-docs: out of date (run npm run gen-docs):\n${differ.map((f) => `  ${f}\n`).join('')}`);
      return 1;
    }
    return 0;
  }
  for (const f of differ) process.stdout.write(f.endsWith(' (stale)') ? `removed ${f.slice(0, -8)}\n` : `wrote ${f}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
