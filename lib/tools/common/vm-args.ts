// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Turning qube names typed by a user into qubes, after the store is loaded
 * (two-phase parsing, as the reference's VmNameAction). Names with any of
 * `* ? [ ] !` are shell-style wildcards over all names.
 * Reference: qubesadmin/tools/__init__.py; spec §7.1.
 */
import type { Qubes } from '../../app/app.js';
import { QubesVMNotFoundError } from '../../errors.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { UsageError } from './errors.js';
import type { Context } from './program.js';
import type { ArgSpec, OptionSpec } from './spec.js';

const WILDCARD_RE = /[*?[\]!]/;

/** fnmatch-style pattern → RegExp (`*`, `?`, `[seq]`, `[!seq]`). */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) re += '\\[';
      else {
        let set = glob.slice(i + 1, end);
        if (set.startsWith('!')) set = '^' + set.slice(1);
        re += `[${set.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** @throws QubesVMNotFoundError (a usage error: `no such domain: 'NAME'`) */
export function resolveVm(app: Qubes, name: string): QubesVM {
  const vm = app.domains.get(name);
  if (!vm) throw new QubesVMNotFoundError(name);
  return vm;
}

export interface VmSelection {
  names: string[];
  all?: boolean;
  exclude?: string[];
}

/**
 * Names in command-line order (a wildcard adds its matches in name order),
 * duplicates collapsed; or `--all` minus `--exclude`, by name. `--all`
 * leaves dom0 out unless `allIncludesDom0`.
 */
export function resolveVms(app: Qubes, sel: VmSelection, allIncludesDom0 = false): QubesVM[] {
  if (sel.exclude?.length && !sel.all) throw new UsageError('--exclude can only be used with --all');
  if (sel.all && sel.names.length) throw new UsageError('--all cannot be used together with qube names');
  const sorted = app.domains.sorted();
  let picked: QubesVM[];
  if (sel.all) {
    picked = sorted.filter((vm) => allIncludesDom0 || vm.klass !== 'AdminVM');
    for (const x of sel.exclude ?? []) resolveVm(app, x);
    const ex = new Set(sel.exclude);
    picked = picked.filter((vm) => !ex.has(vm.name));
  } else {
    const set = new Set<QubesVM>();
    for (const n of sel.names) {
      if (WILDCARD_RE.test(n)) {
        const re = globToRegExp(n);
        for (const vm of sorted) if (re.test(vm.name)) set.add(vm);
      } else set.add(resolveVm(app, n));
    }
    picked = [...set];
  }
  return picked;
}

// ---- the selection of commands acting on several qubes (qvm-start, qvm-check, ...) ----

export const VM_ARGS: ArgSpec[] = [{ name: 'VMNAME', description: 'qubes to act on; shell-style wildcards allowed', kind: 'vm', variadic: true }];

export const SELECTION_OPTIONS: OptionSpec[] = [
  { flags: '--all', description: 'every qube but dom0' },
  { flags: '--exclude <VMNAME>', description: 'leave this qube out (only with --all)', kind: 'vm', repeatable: true },
];

export interface SelectionOpts {
  all?: boolean;
  exclude?: string[];
}

/** The selected qubes; dom0 is never part of --all. @throws UsageError when none is named */
export function selectQubes(ctx: Context, opts: SelectionOpts, names: string[], skip?: (vm: QubesVM) => boolean): QubesVM[] {
  if (!opts.all && names.length === 0) throw new UsageError('one of the arguments VMNAME or --all is required');
  const vms = resolveVms(ctx.session.app(), { names, all: opts.all, exclude: opts.exclude });
  return opts.all && skip ? vms.filter((vm) => !skip(vm)) : vms;
}
