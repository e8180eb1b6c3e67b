// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-features: list, get, set and remove a qube's own features.
 * Reference: qubesadmin/tools/qvm_features.py; spec §5.4.
 */
import { assertFeatureChangeAllowed } from '../vm/admin-extension.js';
import { validateFeatureName } from '../vm/features.js';
import { setFeature } from '../vm/services.js';
import { SilentExit, UsageError } from './common/errors.js';
import { FORMAT_OPTION, refuseJson, wantsJson, writeJson, type FormatOpts } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { resolveVm } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-features',
  summary: "manage a qube's features",
  args: [
    { name: 'VMNAME', description: 'qube to act on', kind: 'vm' },
    { name: 'FEATURE', description: 'name of the feature', kind: 'feature', optional: true },
    { name: 'VALUE', description: 'new value of the feature (an empty string means false)', kind: 'text', optional: true },
  ],
  options: [
    { flags: '-D, --unset', description: 'remove the feature (back to the default of whoever reads it)' },
    { flags: '--default', description: 'same as --unset' },
    { flags: '--delete', description: 'same as --unset' },
    FORMAT_OPTION,
  ],
};

interface Opts extends FormatOpts {
  unset?: boolean;
  default?: boolean;
  delete?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const [vmname, feature, value] = args as [string, string?, string?];
  const unset = opts.unset || opts.default || opts.delete;
  if (unset && feature === undefined) throw new UsageError('--unset requires a feature');
  if (unset && value !== undefined) throw new UsageError('cannot both set and unset a value');
  if (feature !== undefined) validateFeatureName(feature);

  if (unset || value !== undefined) {
    refuseJson(opts, unset ? 'unsetting a feature' : 'setting a feature');
    await ctx.store().update((app) => {
      const vm = resolveVm(app, vmname);
      assertFeatureChangeAllowed(feature as string);
      if (unset) vm.features.delete(feature as string);
      else setFeature(vm, feature as string, value as string);
    });
    return;
  }
  const vm = resolveVm(ctx.store().read(), vmname);
  if (feature === undefined) {
    if (wantsJson(opts)) writeJson(ctx, vm.features.entries().map(([name, value]) => ({ name, value })));
    else ctx.out(formatTable(vm.features.entries()));
    return;
  }
  const v = vm.features.get(feature);
  if (v === undefined) throw new SilentExit(1);
  if (wantsJson(opts)) writeJson(ctx, { name: feature, value: v });
  else ctx.out(`${v}\n`);
}
