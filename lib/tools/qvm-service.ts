// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-service: the `service.*` features of a qube, shown as on/off.
 * Reference: qubesadmin/tools/qvm_service.py; spec §5.5.
 */
import { QubesValueError } from '../errors.js';
import { parseBool } from '../vm/property.js';
import { SERVICE_PREFIX, setFeature, validateServiceName } from '../vm/services.js';
import { SilentExit, UsageError } from './common/errors.js';
import { FORMAT_OPTION, refuseJson, wantsJson, writeJson, type FormatOpts } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { formatTable } from './common/table.js';
import { resolveVm } from './common/vm-args.js';

export const spec: CommandSpec = {
  name: 'qvm-service',
  summary: 'manage (Qubes-specific) services started in a qube',
  args: [
    { name: 'VMNAME', description: 'qube to act on', kind: 'vm' },
    { name: 'SERVICE', description: 'name of the service', kind: 'service', optional: true },
    { name: 'VALUE', description: 'on/off, true/false, 1/0, yes/no', kind: 'text', optional: true },
  ],
  options: [
    { flags: '-l, --list', description: 'list services (the default action)' },
    { flags: '-e, --enable', description: 'enable the service (same as VALUE 1)' },
    { flags: '-d, --disable', description: 'disable the service (same as VALUE 0)' },
    { flags: '-D, --unset', description: 'unset the service: the qube decides (its default)' },
    { flags: '--default', description: 'same as --unset' },
    { flags: '--delete', description: 'same as --unset' },
    FORMAT_OPTION,
  ],
};

interface Opts extends FormatOpts {
  list?: boolean;
  enable?: boolean;
  disable?: boolean;
  unset?: boolean;
  default?: boolean;
  delete?: boolean;
}

/** A service's feature value is on unless empty (setFeature writes a false one as ''). */
const enabled = (v: string): boolean => v !== '';
const onOff = (v: string) => (enabled(v) ? 'on' : 'off');

export async function run(opts: Opts, args: string[], ctx: Context): Promise<void> {
  const [vmname, service, rawValue] = args as [string, string?, string?];
  const unset = opts.unset || opts.default || opts.delete;
  const actions = [opts.list, opts.enable, opts.disable, unset].filter(Boolean).length;
  if (actions > 1) throw new UsageError('only one of --list, --enable, --disable and --unset may be given');
  if ((opts.enable || opts.disable || unset) && service === undefined) throw new UsageError('this action requires a service name');
  if ((opts.enable || opts.disable || unset || opts.list) && rawValue !== undefined)
    throw new UsageError('a value cannot be combined with --list, --enable, --disable or --unset');
  if (service !== undefined) validateServiceName(service);

  let value: boolean | undefined;
  if (opts.enable) value = true;
  else if (opts.disable) value = false;
  else if (rawValue !== undefined) {
    value = parseBool(rawValue);
    if (value === undefined) throw new QubesValueError(`Invalid literal for boolean value: '${rawValue}'`);
  }

  if (unset || value !== undefined) {
    refuseJson(opts, unset ? 'unsetting a service' : 'setting a service');
    await ctx.store().update((app) => {
      const vm = resolveVm(app, vmname);
      if (unset) vm.features.delete(SERVICE_PREFIX + service);
      else setFeature(vm, SERVICE_PREFIX + service, value as boolean);
    });
    return;
  }
  const vm = resolveVm(ctx.store().read(), vmname);
  if (service === undefined) {
    const services = vm.features
      .entries()
      .filter(([k]) => k.startsWith(SERVICE_PREFIX))
      .map(([k, v]): [string, string] => [k.slice(SERVICE_PREFIX.length), v]);
    if (wantsJson(opts)) writeJson(ctx, services.map(([name, v]) => ({ name, enabled: enabled(v) })));
    else ctx.out(formatTable(services.map(([name, v]) => [name, onOff(v)])));
    return;
  }
  const v = vm.features.get(SERVICE_PREFIX + service);
  if (v === undefined) throw new SilentExit(1);
  if (wantsJson(opts)) writeJson(ctx, { name: service, enabled: enabled(v) });
  else ctx.out(`${onOff(v)}\n`);
}
