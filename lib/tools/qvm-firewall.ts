// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-firewall: list, add, remove and reset a qube's outbound firewall
 * rules (its firewall.xml), and show what its net qube's QubesDB receives.
 *
 * Reference: qubesadmin/tools/qvm_firewall.py;
 * shared/spec/firewall-and-devices.md A8.
 */
import type { Qubes } from '../app/app.js';
import { nowMs } from '../config.js';
import { QubesValueError } from '../errors.js';
import { changeRules, currentRules, firewallAddresses, storedRules } from '../firewall/firewall.js';
import { firewallQdbOps } from '../firewall/qubesdb-export.js';
import { ACCEPT_ALL, type Rule } from '../firewall/rule.js';
import { ruleFacts, ruleTable } from '../firewall/rule-table.js';
import { clientForm } from '../firewall/rule-text.js';
import { ruleFromWords } from '../firewall/rule-words.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { UsageError } from './common/errors.js';
import { FORMAT_OPTION, wantsJson, writeJson, type FormatOpts } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { reloadFirewallFor } from '../ops/firewall-reload.js';
import { resolveVm } from './common/vm-args.js';

const RULE_HELP = 'rule: bare values for action, dsthost, proto, dstports/icmptype in that order, or KEY=VALUE words';

export const spec: CommandSpec = {
  name: 'qvm-firewall',
  summary: "manage a qube's outbound firewall rules",
  args: [{ name: 'VMNAME', description: 'qube to act on', kind: 'vm' }],
  options: [
    { flags: '-r, --reload', description: "after listing, load the rules into the net qube's QubesDB again, even when unchanged" },
    { flags: '--raw', description: 'list the rules as one-line rule texts instead of a table' },
  ],
  defaultSubcommand: 'list',
  subcommands: [
    {
      name: 'list',
      summary: 'list the rules, numbered from 0',
      args: [],
      options: [
        {
          flags: '--qubesdb',
          description: "print the QubesDB entries the net qube receives for these rules, one 'KEY VALUE' a line (our addition)",
        },
        FORMAT_OPTION,
      ],
    },
    {
      name: 'add',
      summary: 'add a rule at the end, or before rule N',
      args: [{ name: 'RULE', description: RULE_HELP, kind: 'firewall-rule', variadic: true }],
      options: [{ flags: '--before <N>', description: 'insert before rule number N (negative: counted from the end)' }],
    },
    {
      name: 'del',
      summary: 'remove rule number N, or the first rule equal to RULE',
      args: [{ name: 'RULE', description: RULE_HELP, kind: 'firewall-rule', variadic: true }],
      options: [{ flags: '--rule-no <N>', description: 'number of the rule to remove (negative: counted from the end)' }],
    },
    { name: 'reset', summary: 'replace all rules with the single rule accept, as a new qube has', args: [], options: [] },
  ],
};

interface Opts extends FormatOpts {
  reload?: boolean;
  raw?: boolean;
  qubesdb?: boolean;
  before?: string;
  ruleNo?: string;
}

/** argparse's `type=int`. */
function intOption(name: string, v: string): number {
  if (!/^\s*[+-]?[0-9]+\s*$/.test(v)) throw new UsageError(`argument ${name}: invalid int value: '${v}'`);
  return Number(v);
}

/** Python's list index rules: negative counts from the end; undefined when out of range. */
function pyIndex(i: number, length: number): number | undefined {
  const j = i < 0 ? i + length : i;
  return j >= 0 && j < length ? j : undefined;
}

function insertRule(rules: Rule[], rule: Rule, before: number | undefined): Rule[] {
  const at = before === undefined ? rules.length : Math.min(Math.max(before < 0 ? before + rules.length : before, 0), rules.length);
  return [...rules.slice(0, at), rule, ...rules.slice(at)];
}

function deleteRule(rules: Rule[], ruleNo: number | undefined, rule: Rule | undefined): Rule[] {
  let at: number | undefined;
  if (ruleNo !== undefined) {
    at = pyIndex(ruleNo, rules.length);
    if (at === undefined) throw new QubesValueError(`Rule number out of range: ${ruleNo}`);
  } else {
    const text = clientForm(rule as Rule);
    at = rules.findIndex((r) => clientForm(r) === text);
    if (at === -1) throw new QubesValueError(`Rule not found: ${text}`);
  }
  return [...rules.slice(0, at), ...rules.slice(at + 1)];
}

/** The QubesDB writes, `KEY VALUE` a line (the reload trigger has an empty value: the key alone). */
function printQubesDb(ctx: Context, app: Qubes, vm: QubesVM, now: number): void {
  const ops = firewallQdbOps(firewallAddresses(vm), storedRules(app, vm), now);
  if (ops.length === 0 && ctx.verbose >= 0) ctx.err(`${ctx.prog}: ${vm.name} has no IP address (no netvm): nothing to write\n`);
  for (const o of ops) if (o.op === 'write') ctx.out(o.value === '' ? `${o.path}\n` : `${o.path} ${o.value}\n`);
}

/**
 * Load the qube's rules into its net qube's QubesDB when that runs (after
 * every change, and for `--reload`). Offline nothing runs: nothing to do.
 */
async function reload(ctx: Context, vmName: string): Promise<void> {
  const app = ctx.store().read();
  await reloadFirewallFor(app, resolveVm(app, vmName), ctx.env, (m) => ctx.err(`${ctx.prog}: warning: ${m}\n`));
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const [vmname, sub, ...words] = args as [string, string, ...string[]];
  const now = nowMs(ctx.env);
  if (sub === 'list') {
    if (opts.raw && opts.qubesdb) throw new UsageError('--raw and --qubesdb cannot be used together');
    if (wantsJson(opts) && (opts.raw || opts.qubesdb)) throw new UsageError(`--format json cannot be combined with ${opts.raw ? '--raw' : '--qubesdb'}`);
    const app = ctx.store().read();
    const vm = resolveVm(app, vmname);
    if (opts.qubesdb) printQubesDb(ctx, app, vm, now);
    else {
      const rules = currentRules(app, vm, now);
      if (wantsJson(opts)) writeJson(ctx, ruleFacts(rules).map((r) => ({ ...r })));
      else ctx.out(opts.raw ? rules.map((r) => `${clientForm(r)}\n`).join('') : formatTable(ruleTable(rules, now)));
    }
    if (opts.reload) await reload(ctx, vm.name);
    return;
  }
  let change: (rules: Rule[]) => Rule[];
  if (sub === 'add') {
    if (words.length === 0) throw new UsageError('the following arguments are required: RULE');
    const rule = ruleFromWords(words, now);
    const before = opts.before === undefined ? undefined : intOption('--before', opts.before);
    change = (rules) => insertRule(rules, rule, before);
  } else if (sub === 'del') {
    if (opts.ruleNo !== undefined && words.length) throw new UsageError('give either --rule-no or a rule, not both');
    if (opts.ruleNo === undefined && !words.length) throw new UsageError('del needs --rule-no or a rule');
    const ruleNo = opts.ruleNo === undefined ? undefined : intOption('--rule-no', opts.ruleNo);
    const rule = words.length ? ruleFromWords(words, now) : undefined;
    change = (rules) => deleteRule(rules, ruleNo, rule);
  } else {
    change = () => [ACCEPT_ALL];
  }
  await changeRules(ctx.store(), vmname, change, now);
  await reload(ctx, vmname);
}
