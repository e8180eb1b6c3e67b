// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-prefs: list, get, set and reset a qube's properties.
 * Reference: qubesadmin/tools/qvm_prefs.py; spec §9.
 */
import { UsageError } from './common/errors.js';
import { PROPERTY_OPTIONS, propertyActions, helpProperties, type PropertyOpts } from './common/property-actions.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVm } from './common/vm-args.js';
import { propertiesFor } from '../vm/vm-properties.js';

export const spec: CommandSpec = {
  name: 'qvm-prefs',
  summary: 'list, get or set the properties of a qube',
  args: [
    { name: 'VMNAME', description: 'qube to act on', kind: 'vm', optional: true },
    { name: 'PROPERTY', description: "property to get or set ('-' may be used for '_')", kind: 'vm-property', optional: true },
    { name: 'VALUE', description: "new value; 'none' clears a qube reference", kind: 'property-value', optional: true },
  ],
  options: PROPERTY_OPTIONS,
};

export async function run(opts: PropertyOpts, args: string[], ctx: Context): Promise<void> {
  const [vmname, property, value] = args as [string?, string?, string?];
  if (opts.helpProperties) {
    ctx.out(helpProperties(vmname ? resolveVm(ctx.store().read(), vmname).defs : propertiesFor('AppVM')));
    return;
  }
  if (vmname === undefined) throw new UsageError('the following arguments are required: VMNAME');
  await propertyActions(ctx, opts, property, value, (app) => resolveVm(app, vmname));
}
