// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubes-prefs: list, get, set and reset the global properties.
 * Reference: qubesadmin/tools/qubes_prefs.py; spec §9.
 */
import { GLOBAL_PROPERTY_MAP } from '../app/global-properties.js';
import { PROPERTY_OPTIONS, propertyActions, helpProperties, type PropertyOpts } from './common/property-actions.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubes-prefs',
  summary: 'list, get or set the global properties of the system',
  args: [
    { name: 'PROPERTY', description: "property to get or set ('-' may be used for '_')", kind: 'global-property', optional: true },
    { name: 'VALUE', description: "new value; 'none' clears a qube reference", kind: 'property-value', optional: true },
  ],
  options: PROPERTY_OPTIONS,
};

export async function run(opts: PropertyOpts, args: string[], ctx: Context): Promise<void> {
  const [property, value] = args as [string?, string?];
  if (opts.helpProperties) {
    ctx.out(helpProperties(GLOBAL_PROPERTY_MAP));
    return;
  }
  await propertyActions(ctx, opts, property, value, (app) => app);
}
