// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-check: whether qubes exist, and (with filters, ANDed) whether they
 * are running, paused, templates or networked. Exit 0 when every named
 * qube passes, 3 when some do, 1 when none does or a name is unknown.
 * Messages go to stderr as `qvm-check: ...` (the reference logs them);
 * `-q` silences them.
 * Reference: qubesadmin/tools/qvm_check.py; spec vmm.md §6.2.
 */
import { QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { isRunningState } from '../vmm/power-state.js';
import { UsageError } from './common/errors.js';
import { FORMAT_OPTION, wantsJson, writeJson, type FormatOpts, type JsonValue } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVms, SELECTION_OPTIONS, VM_ARGS, type SelectionOpts } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-check',
  summary: 'check whether qubes exist and are in a given state',
  args: VM_ARGS,
  options: [
    ...SELECTION_OPTIONS,
    { flags: '--running', description: 'the qubes are running (paused counts as running)' },
    { flags: '--paused', description: 'the qubes are paused' },
    { flags: '--template', description: 'the qubes are templates' },
    { flags: '--networked', description: 'the qubes provide network or have a net qube' },
    { ...FORMAT_OPTION, description: 'text (the default: the messages on standard error) or json: one object per qube on standard output, keys as in JSON OUTPUT' },
  ],
};

type Status = 'running' | 'paused' | 'template' | 'networked';

interface Opts extends SelectionOpts, FormatOpts {
  running?: boolean;
  paused?: boolean;
  template?: boolean;
  networked?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  if (!opts.all && args.length === 0) throw new UsageError('one of the arguments VMNAME or --all is required');
  const app = ctx.store().read();
  // unknown names are collected and reported, not fatal (the reference's parser does so)
  const unknown: string[] = [];
  const domains: QubesVM[] = [];
  for (const name of opts.all ? [] : args) {
    try {
      for (const vm of resolveVms(app, { names: [name] })) if (!domains.includes(vm)) domains.push(vm);
    } catch (e) {
      if (!(e instanceof QubesVMNotFoundError)) throw e;
      unknown.push(name);
    }
  }
  if (opts.all) domains.push(...resolveVms(app, { names: [], all: true, exclude: opts.exclude }));
  unknown.sort();

  const filters: { status: Status; check: (vm: QubesVM) => boolean }[] = [];
  if (opts.running || opts.paused) await app.vmm.refresh(domains);
  if (opts.running) filters.push({ status: 'running', check: (vm) => isRunningState(app.vmm.info(vm).state) });
  if (opts.paused) filters.push({ status: 'paused', check: (vm) => app.vmm.info(vm).state === 'Paused' });
  if (opts.template) filters.push({ status: 'template', check: (vm) => vm.klass === 'TemplateVM' });
  if (opts.networked) filters.push({ status: 'networked', check: (vm) => (vm.has('provides_network') && vm.get('provides_network') === true) || Boolean(vm.has('netvm') && vm.get('netvm')) });

  // the exit status, whatever the output
  const passing = domains.filter((vm) => filters.every((f) => f.check(vm)));
  let code = 0;
  if (filters.length && passing.length !== domains.length) code = passing.length === 0 ? 1 : 3;
  if ((!filters.length && domains.length === 0) || unknown.length) code = 1;

  if (wantsJson(opts)) {
    // each qube with what was checked (null: not asked, or the qube does not exist)
    const row = (name: string, vm: QubesVM | undefined): { [key: string]: JsonValue } => {
      const checked = new Map(filters.map((f) => [f.status, vm ? f.check(vm) : null]));
      const status = (s: Status) => checked.get(s) ?? null;
      return { name, exists: vm !== undefined, running: status('running'), paused: status('paused'), template: status('template'), networked: status('networked'), passed: vm !== undefined && passing.includes(vm) };
    };
    const rows = [...domains.map((vm) => row(vm.name, vm)), ...unknown.map((n) => row(n, undefined))];
    writeJson(ctx, rows.sort((a, b) => ((a.name as string) < (b.name as string) ? -1 : 1)));
    return code;
  }
  const say = (line: string) => {
    if (ctx.verbose >= 0) ctx.err(`qvm-check: ${line}\n`);
  };
  const report = (vms: QubesVM[], status: string[]) => {
    if (vms.length === 0) say(`None of qubes: ${status.join(', ')}`);
    for (const vm of [...vms].sort((a, b) => (a.name < b.name ? -1 : 1))) say(`${vm.name}: ${status.join(', ')}`);
  };
  if (filters.length) report(passing, filters.map((f) => f.status));
  else if (domains.length) report(domains, ['exists']);
  for (const n of unknown) say(`${n}: non-existent!`);
  return code;
}
