// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubes-firewall-expire: what the reference's expiry timer does, for every
 * qube at once. Each qube whose firewall.xml still holds a rule that has
 * expired gets the file saved again without it, and is reported as needing
 * its rules reloaded into its net qube's QubesDB (the write itself comes
 * with the VMM; `firewallQdbOps` gives its content). Run by
 * contrib/systemd/qubes-firewall-expire.timer.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (_expire_rules),
 * linux/systemd/qubes-reload-firewall@.{service,timer} (before R4.0);
 * shared/spec/firewall-and-devices.md A6.
 */
import { expireRules } from '../ops/firewall-reload.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubes-firewall-expire',
  summary: 'drop expired firewall rules and name the qubes whose net qube must reload their rules',
  args: [],
  options: [{ flags: '-n, --dry-run', description: 'only report; change no file' }],
};

interface Opts {
  dryRun?: boolean;
}

const plural = (n: number) => `${n} expired rule${n === 1 ? '' : 's'}`;

export async function run(opts: Opts, _args: string[], ctx: Context): Promise<number> {
  const result = await expireRules(ctx.store(), ctx.env, { dryRun: Boolean(opts.dryRun), warn: (m) => ctx.err(`${ctx.prog}: warning: ${m}\n`) });
  for (const { vm, removed, reload } of result.expired) {
    const netvm = vm.netvmVm();
    const what = opts.dryRun ? `${plural(removed)} to remove` : `${plural(removed)} removed`;
    let where = netvm ? `rules to reload in ${netvm.name}` : 'no netvm';
    if (reload === 'written' && netvm) where = `rules reloaded in ${netvm.name}`;
    if (ctx.verbose >= 0) ctx.out(`${vm.name}: ${what}; ${where}\n`);
  }
  for (const { vm, error } of result.failed) ctx.err(`${ctx.prog}: error: ${vm.name}: ${error.message}\n`);
  // its expired rules are gone from the file but maybe not from the net qube: the next run does not see them
  for (const { vm, error } of result.reloadFailed) ctx.err(`${ctx.prog}: error: ${vm.name}: cannot reload its firewall rules in ${vm.netvmVm()?.name ?? 'its net qube'}: ${error.message}\n`);
  return result.failed.length || result.reloadFailed.length ? 1 : 0;
}
