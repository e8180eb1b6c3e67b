// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-remove: remove qubes and their disk images.
 * Reference: qubesadmin/tools/qvm_remove.py; spec §10.2. Each qube is
 * removed in its own store update (the first failure stops, earlier ones
 * stay removed); image directories are deleted after the lock is released.
 * A name the store lacks but an interrupted create or remove recorded is
 * accepted: what that command left is removed.
 */
import { removeQube, removeUnfinished } from '../ops/remove-qube.js';
import { QubesError, QubesVMInUseError } from '../errors.js';
import { unfinishedNames } from '../storage/unfinished-qubes.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVms } from './common/vm-args.js';
import { sessionStorage } from '../ops/session-storage.js';

export const spec: CommandSpec = {
  name: 'qvm-remove',
  summary: 'remove qubes',
  args: [{ name: 'VMNAME', description: 'qube(s) to remove (shell wildcards allowed)', kind: 'vm', variadic: true }],
  options: [
    { flags: '-f, --force', description: 'do not ask for confirmation' },
    { flags: '--all', description: 'remove every qube but dom0' },
    { flags: '--exclude <VMNAME>', description: 'with --all: keep this qube', kind: 'vm', repeatable: true },
  ],
};

interface Opts {
  force?: boolean;
  all?: boolean;
  exclude?: string[];
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  if (!opts.all && args.length === 0) throw new UsageError('one of the arguments --all VMNAME is required');
  const app = ctx.store().read();
  // a name only an unfinished create or remove knows: what that killed command left is removed
  const unfinished = new Set(unfinishedNames(ctx.store()));
  const leftovers = args.filter((n) => !app.domains.get(n) && unfinished.has(n));
  const named = args.filter((n) => !leftovers.includes(n));
  const vms = opts.all || named.length ? resolveVms(app, { names: named, all: opts.all, exclude: opts.exclude }) : [];
  // Refused by the core too; checked here so that no confirmation is asked first.
  const dom0 = vms.find((vm) => vm.klass === 'AdminVM');
  if (dom0) throw new QubesError(`Domain '${dom0.name}' cannot be removed.`);
  if (vms.length === 0 && leftovers.length === 0) return 0;

  if (opts.all && !opts.force && !opts.exclude?.length) {
    ctx.err('WARNING: This will remove ALL qubes (except dom0), including the templates and the qubes providing network.\n');
    ctx.out('Are you certain? [N/IKNOWWHATIAMDOING]');
    if (ctx.session.streams.readLine() !== 'IKNOWWHATIAMDOING') {
      ctx.out('Remove cancelled.\n');
      return 1;
    }
  }
  if (!opts.force) {
    ctx.err('This will completely remove the selected VM(s)...\n');
    for (const vm of vms) ctx.out(`  ${vm.name}\n`);
    for (const n of leftovers) ctx.out(`  ${n} (left unfinished by an interrupted command)\n`);
    ctx.out('Are you sure? [y/N] ');
    if (ctx.session.streams.readLine().trim().toUpperCase() !== 'Y') {
      ctx.out('Remove cancelled.\n');
      return 1;
    }
  }

  for (const name of leftovers) {
    for (const p of (await removeUnfinished(ctx.store(), name, sessionStorage(ctx.session))) ?? []) ctx.err(`${ctx.prog}: warning: ${p}\n`);
  }
  for (const vm of vms) {
    let problems: string[];
    try {
      problems = await removeQube(ctx.store(), vm.name, sessionStorage(ctx.session));
    } catch (e) {
      if (e instanceof QubesVMInUseError && e.usages.length > 0) {
        ctx.out(`VM ${vm.name} cannot be removed. It is in use as:\n`);
        for (const u of e.usages) ctx.out(u.holder ? ` - ${u.prop} for ${u.holder}\n` : ` - global property ${u.prop}\n`);
      }
      throw e;
    }
    for (const p of problems) ctx.err(`${ctx.prog}: warning: ${p}\n`);
  }
  return 0;
}
