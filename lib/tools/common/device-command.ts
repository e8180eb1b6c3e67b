// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-device and its per-class names (qvm-pci, qvm-block, qvm-usb, and any
 * `qvm-CLASS` link to qvm-device): list, attach, detach, assign, unassign
 * and info. One description serves every name; the class comes from the
 * program name, or from the first argument of qvm-device.
 *
 * The command words are parsed here, after the options, with the
 * reference's aliases; options a command word does not take are refused as
 * argparse refuses them.
 *
 * Reference: qubesadmin/tools/qvm_device.py; shared/spec/firewall-and-devices.md B9.
 */
import path from 'node:path';
import type { Qubes } from '../../app/app.js';
import { onDenyList } from '../../devices/deny-list.js';
import { describe } from '../../devices/description.js';
import type { DeviceEnumerator } from '../../devices/enumerate.js';
import { listEntries, listRows, type DeviceEntry } from '../../devices/listing.js';
import { ANY, DEVICE_CLASSES, UNKNOWN_DEVICE_ID, matches, unknownDevice, type DeviceInfo, type VirtualDevice } from '../../devices/model.js';
import { assignmentDevice, assignmentsOf, attachedTo, type DeviceServices } from '../../devices/operations.js';
import type { Options } from '../../devices/options.js';
import { deviceEnumerator, deviceServices } from '../../devices/services.js';
import { QubesError } from '../../errors.js';
import { assignDevice, attachDevice, detachDevices, unassignDevices } from '../../ops/device-ops.js';
import type { AssignmentMode } from '../../vm/devices.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { UsageError } from './errors.js';
import { FORMAT_OPTION, wantsJson, writeJson, type FormatOpts, type JsonValue } from './json-output.js';
import type { Context } from './program.js';
import type { ArgSpec, CommandSpec, OptionSpec, SubcommandSpec } from './spec.js';
import { formatTable } from './table.js';
import { resolveVm, resolveVms } from './vm-args.js';

type Word = 'list' | 'attach' | 'detach' | 'assign' | 'unassign' | 'info';

/** Option names of each class, for the man page and completion (`-o NAME=VALUE`). */
export const DEVICE_OPTION_WORDS = ['frontend-dev=', 'read-only=', 'devtype=', 'no-strict-reset=True', 'permissive=True'];

export interface DeviceOpts extends FormatOpts {
  option?: string[];
  ro?: boolean;
  persistent?: boolean;
  assignments?: boolean;
  withSbdf?: boolean;
  resolvePaths?: boolean;
  all?: boolean;
  exclude?: string[];
  required?: boolean;
  ask?: boolean;
  askToAttach?: boolean;
  port?: boolean;
  onlyPort?: boolean;
  device?: boolean;
  onlyDevice?: boolean;
  listDeviceClasses?: boolean;
  listClasses?: boolean;
}

const OPTION: OptionSpec = {
  flags: '-o, --option <NAME=VALUE>',
  description: 'set an option of the device (repeatable); see NOTES',
  kind: 'device-option',
  repeatable: true,
};
const RO: OptionSpec = { flags: '--ro', description: 'read-only (same as -o read-only=yes, and wins over it)' };
const PORT: OptionSpec[] = [
  { flags: '--port', description: 'whatever device is at this port (device id *)' },
  { flags: '--only-port', description: 'same as --port', hidden: true },
];
const DEVICE: OptionSpec[] = [
  { flags: '--device', description: 'this device at whatever port (port *)' },
  { flags: '--only-device', description: 'same as --device', hidden: true },
];
const VMNAME: ArgSpec = { name: 'VMNAME', description: 'the frontend qube', kind: 'vm' };
const DEVICE_ARG: ArgSpec = { name: 'BACKEND:PORT[:DEVICE_ID]', description: 'the device: backend qube, port, and optionally the identity expected there (`*`: any)', kind: 'device' };

const SUBCOMMANDS: SubcommandSpec[] = [
  {
    name: 'list',
    aliases: ['ls', 'l'],
    summary: 'list the devices exposed by or attached to the qubes (all qubes when none is named), and who uses each',
    args: [{ name: 'VMNAME', description: 'qubes whose devices to list', kind: 'vm', variadic: true }],
    options: [
      { flags: '-s, --assignments', description: "also list assignments, the assigned qubes marked with '*'" },
      { flags: '--with-sbdf', description: 'show the SBDF of PCI devices (ignored for other classes)' },
      { flags: '--resolve-paths', description: 'same as --with-sbdf', hidden: true },
      { flags: '--all', description: 'devices of all qubes' },
      { flags: '--exclude <VMNAME>', description: 'with --all, leave out this qube (repeatable)', kind: 'vm', repeatable: true },
      FORMAT_OPTION,
    ],
  },
  {
    name: 'attach',
    aliases: ['at', 'a'],
    summary: 'attach a device to a running qube now (not stored)',
    args: [VMNAME, DEVICE_ARG],
    options: [OPTION, RO, { flags: '-p, --persistent', description: 'also assign the device as required (works on a halted qube): `assign --required`' }],
  },
  {
    name: 'detach',
    aliases: ['d', 'dt'],
    summary: 'detach a device (every device of the class when none is named; port `*`: every device of that backend)',
    args: [VMNAME, { ...DEVICE_ARG, optional: true }],
    options: [],
  },
  {
    name: 'assign',
    aliases: ['s'],
    summary: 'assign a device (stored in qubes.xml; a required one goes into the qube at each start, the others are attached when it starts and, with qubesd, when they appear: see NOTES), or change the mode of an assignment',
    args: [VMNAME, DEVICE_ARG],
    options: [
      OPTION,
      RO,
      { flags: '-r, --required', description: 'the qube needs the device to start (pci and block only; pci must be required)' },
      { flags: '--ask', description: 'the mode ask-to-attach (attached once the user chooses the qube in the GUI agent: see NOTES)' },
      { flags: '--ask-to-attach', description: 'same as --ask', hidden: true },
      ...PORT,
      ...DEVICE,
    ],
  },
  {
    name: 'unassign',
    aliases: ['u'],
    summary: 'remove an assignment (every assignment of the class when none is named); an attached device stays attached',
    args: [VMNAME, { ...DEVICE_ARG, optional: true }],
    options: [...PORT, ...DEVICE],
  },
  {
    name: 'info',
    aliases: ['i'],
    summary: 'show the description, identity and details of a device (no qube is named)',
    args: [{ name: 'BACKEND:PORT', description: 'the device', kind: 'device', optional: true }],
    options: [],
  },
];

/** The spec of qvm-device (no class) or of qvm-CLASS. */
export function deviceSpec(name: string, devclass?: string): CommandSpec {
  return {
    name,
    summary: devclass ? `list, attach and assign ${devclass} devices` : 'list, attach and assign devices of any class',
    args: devclass ? [] : [{ name: 'CLASS', description: `device class: ${DEVICE_CLASSES.join(', ')}`, kind: 'device-class', optional: true }],
    options: [
      { flags: '--list-device-classes', description: 'print the device classes and exit' },
      { flags: '--list-classes', description: 'same as --list-device-classes', hidden: true },
    ],
    subcommands: SUBCOMMANDS,
    defaultSubcommand: 'list',
  };
}

/** `qvm-CLASS` names fix the class, as the reference's symlinks do (qvm-device does not). */
export function classFromProgram(argv1: string | undefined): string | undefined {
  const base = path.basename(argv1 ?? '');
  return base.startsWith('qvm-') && base !== 'qvm-device' ? base.slice(4) : undefined;
}

/** The devices qubes expose, as this command sees them (warnings with -v). */
export function commandEnumerator(app: Qubes, ctx: Context): DeviceEnumerator {
  return deviceEnumerator(app, ctx.session.hostRoots, ctx.env, warnVerbose(ctx));
}

const warnVerbose = (ctx: Context) => (m: string) => {
  if (ctx.verbose > 0) ctx.err(`${ctx.prog}: warning: ${m}\n`);
};

function services(app: Qubes, ctx: Context): DeviceServices {
  return deviceServices(app, ctx.session.hostRoots, ctx.env, {
    warn: warnVerbose(ctx),
    event: (line) => {
      if (ctx.verbose > 0) ctx.err(`${ctx.prog}: ${line}\n`);
    },
  });
}

interface Parsed {
  backend: QubesVM;
  portId: string;
  /** Given after the second `:`; undefined when absent. */
  deviceId?: string;
}

/** `BACKEND:PORT[:DEVICE_ID]`, split at the first `:` and then at the next. */
function parseDeviceArg(app: Qubes, arg: string): Parsed {
  const i = arg.indexOf(':');
  if (i < 0) throw new UsageError(`expected a backend vm, port id and [optional] device id combination like foo:bar[:baz] got ${arg}`);
  const b = arg.slice(0, i);
  const rest = arg.slice(i + 1);
  const j = rest.indexOf(':');
  const portId = j < 0 ? rest : rest.slice(0, j);
  const deviceId = j < 0 ? undefined : rest.slice(j + 1);
  if (!portId || deviceId === '') throw new UsageError(`expected a backend vm, port id and [optional] device id combination like foo:bar[:baz] got ${arg}`);
  const backend = app.domains.get(b);
  if (!backend) throw new QubesError('no such backend vm!');
  return { backend, portId, ...(deviceId !== undefined ? { deviceId } : {}) };
}

/** The reference's DeviceAction: the device named by an argument, known or not. */
async function resolveDevice(svc: DeviceServices, app: Qubes, devclass: string, arg: string, how: { allowUnknown: boolean; onlyPort?: boolean }): Promise<DeviceInfo> {
  const p = parseDeviceArg(app, arg);
  const current = await svc.enumerator.get(p.backend, devclass, p.portId);
  let dev = current;
  // `PORT:*` names any device at the port: a wildcard for assign and unassign, the current device otherwise
  if (p.deviceId === ANY && how.allowUnknown) dev = { ...current, deviceId: ANY };
  else if (p.deviceId !== undefined && p.deviceId !== ANY && p.deviceId !== current.deviceId) {
    if (how.onlyPort) throw new QubesError('this option works only for explicitly given port ID and does not support device ID');
    dev = unknownDevice({ backend: p.backend.name, portId: p.portId, devclass }, p.deviceId);
  }
  if (!how.allowUnknown && dev.unknown) throw new QubesError(`backend vm ${p.backend.name} doesn't expose ${devclass} device '${p.portId}'`);
  return dev;
}

/** `-o K=V`..., `--ro`, and `ro=` rewritten to read-only (reference parse_ro_option_as_read_only). */
function requestOptions(opts: DeviceOpts): Options {
  const map = new Map<string, string>();
  for (const o of opts.option ?? []) {
    const eq = o.indexOf('=');
    if (eq < 0) throw new UsageError(`option must be NAME=VALUE, got '${o}'`);
    map.set(o.slice(0, eq), o.slice(eq + 1));
  }
  if (opts.ro) map.set('read-only', 'yes');
  const ro = map.get('ro');
  if (ro !== undefined) {
    const v = ro.toLowerCase();
    if (['1', 'true', 'yes'].includes(v)) map.set('read-only', 'yes');
    else if (['0', 'false', 'no'].includes(v)) map.set('read-only', 'no');
    else throw new QubesError(`Unknown \`read-only\` option value: ${ro}`);
    map.delete('ro');
  }
  return [...map];
}


/** Run qvm-device (fixedClass undefined) or qvm-CLASS; args are [CLASS,] COMMAND, ARGS... */
export async function runDevice(fixedClass: string | undefined, opts: DeviceOpts, args: string[], ctx: Context): Promise<void> {
  if (opts.listDeviceClasses || opts.listClasses) {
    ctx.out(DEVICE_CLASSES.map((c) => `${c}\n`).join(''));
    return;
  }
  const rest = [...args];
  // without CLASS the parser has put the (default) command word first
  const devclass = fixedClass ?? (rest.length >= 2 ? rest.shift() : undefined);
  if (!devclass) throw new UsageError('the following arguments are required: CLASS');
  const word = rest.shift() as Word;
  if (opts.required && (opts.ask || opts.askToAttach)) throw new UsageError('argument --ask/--ask-to-attach: not allowed with argument --required/-r');
  if ((opts.port || opts.onlyPort) && (opts.device || opts.onlyDevice))
    throw new UsageError('argument --device/--only-device: not allowed with argument --port/--only-port');
  if (!(DEVICE_CLASSES as readonly string[]).includes(devclass))
    throw new QubesError(`Failed to list '${devclass}' devices, this device type either does not exist or you do not have access to it.`);

  const store = ctx.store();
  const snapshot = store.read();
  await snapshot.vmm.refresh(snapshot.domains.all());
  const svc = services(snapshot, ctx);
  switch (word) {
    case 'list':
      return list(svc, snapshot, devclass, opts, rest, ctx);
    case 'info': {
      if (!rest[0]) return;
      const dev = await resolveDevice(svc, snapshot, devclass, rest[0], { allowUnknown: false, onlyPort: true });
      ctx.out(`${describe(dev, svc.enumerator.hw)}\ndevice ID: ${dev.deviceId}\n`);
      for (const [k, v] of dev.data) ctx.out(`${k.replace(/_/g, ' ')}: ${v}\n`);
      return;
    }
    case 'attach':
      return attachCommand(svc, snapshot, devclass, opts, rest as [string, string], ctx);
    case 'detach':
      return detachCommand(svc, snapshot, devclass, rest as [string, string?]);
    case 'assign':
      return assignCommand(svc, snapshot, devclass, opts, rest as [string, string], ctx);
    case 'unassign':
      return unassignCommand(svc, snapshot, devclass, opts, rest as [string, string?], ctx);
  }
}

async function list(svc: DeviceServices, app: Qubes, devclass: string, opts: DeviceOpts, names: string[], ctx: Context): Promise<void> {
  const selected = names.length || opts.all ? resolveVms(app, { names, all: opts.all, exclude: opts.exclude }, true) : undefined;
  const withSbdf = Boolean(opts.withSbdf || opts.resolvePaths) && devclass === 'pci';
  if (wantsJson(opts)) {
    const entries = await listEntries(svc, app, { devclass, ...(selected ? { vms: selected } : {}), assignments: opts.assignments, withSbdf });
    writeJson(ctx, entries.map(entryJson));
    return;
  }
  const rows = await listRows(svc, app, { devclass, ...(selected ? { vms: selected } : {}), assignments: opts.assignments, withSbdf });
  const header = withSbdf ? ['BACKEND:DEVID', 'SBDF', 'DESCRIPTION', 'USED BY'] : ['BACKEND:DEVID', 'DESCRIPTION', 'USED BY'];
  ctx.out(formatTable(ctx.stdoutIsTTY() ? [header, ...rows] : rows));
}

/** A listed device as JSON (see JSON OUTPUT in qvm-device(1)); the SBDF of a PCI device whether or not --with-sbdf is given. */
const entryJson = (e: DeviceEntry): JsonValue => ({
  backend: e.backend,
  port: e.port,
  device_id: e.deviceId,
  sbdf: e.sbdf,
  description: e.description,
  assignment: e.assignment,
  used_by: e.users.map((u) => ({ qube: u.qube, mode: u.mode, assigned: u.assigned, options: Object.fromEntries(u.options) })),
});

async function attachCommand(svc: DeviceServices, app: Qubes, devclass: string, opts: DeviceOpts, [vmname, arg]: [string, string], ctx: Context): Promise<void> {
  const vm = resolveVm(app, vmname);
  const dev = await resolveDevice(svc, app, devclass, arg, { allowUnknown: false });
  await attachDevice(ctx.store(), svc, app, vm.name, dev, requestOptions(opts), Boolean(opts.persistent));
}

async function detachCommand(svc: DeviceServices, app: Qubes, devclass: string, [vmname, arg]: [string, string?]): Promise<void> {
  const vm = resolveVm(app, vmname);
  const dev = arg === undefined ? undefined : await resolveDevice(svc, app, devclass, arg, { allowUnknown: true });
  await detachDevices(svc, app, vm, devclass, dev);
}

/** The virtual device of assign/unassign: `--port` drops the device id, `--device` the port. */
function virtualFrom(dev: DeviceInfo, opts: DeviceOpts): VirtualDevice {
  let v: VirtualDevice = { port: { backend: dev.backend, portId: dev.portId, devclass: dev.devclass }, deviceId: dev.deviceId };
  if (opts.port || opts.onlyPort) v = { ...v, deviceId: ANY };
  else if (v.deviceId === UNKNOWN_DEVICE_ID)
    throw new QubesError(`backend vm ${dev.backend} doesn't expose ${dev.devclass} device '${dev.portId}'`);
  if (opts.device || opts.onlyDevice) v = { ...v, port: { ...v.port, portId: ANY } };
  return v;
}

async function assignCommand(svc: DeviceServices, app: Qubes, devclass: string, opts: DeviceOpts, [vmname, arg]: [string, string], ctx: Context): Promise<void> {
  resolveVm(app, vmname);
  const dev = await resolveDevice(svc, app, devclass, arg, { allowUnknown: true });
  const device = virtualFrom(dev, opts);
  const options = requestOptions(opts);
  const mode: AssignmentMode = opts.required ? 'required' : opts.ask || opts.askToAttach ? 'ask-to-attach' : 'auto-attach';
  await assignDevice(ctx.store(), svc, vmname, { device, mode, options });
  const vm = resolveVm(app, vmname);
  const quiet = ctx.verbose < 0;
  if (!quiet && onDenyList(dev, vm)) ctx.out('Warning: The assigned device is on the denied list.\n           Auto-attach will work, but make sure that the assignment is correct.\n');
  if (!quiet && devclass !== 'pci' && svc.enumerator.isRunning(vm)) {
    const attached = await attachedTo(svc, app, vm, devclass);
    const optText = options.map(([k, v]) => ` -o ${k}=${v}`).join('');
    const hints = (await svc.enumerator.exposed(app.domains.get(device.port.backend) as QubesVM, devclass))
      .filter((d) => matches(device, d) && !attached.some((a) => a.device.portId === d.portId && a.device.backend === d.backend))
      .map((d) => `\tqvm-${devclass} attach${optText} ${vm.name} ${d.backend}:${d.portId}`);
    if (hints.length) ctx.out(`Assigned. To attach you can now restart domain or run: \n${hints.join('\n')}\n`);
  }
}

async function unassignCommand(svc: DeviceServices, app: Qubes, devclass: string, opts: DeviceOpts, [vmname, arg]: [string, string?], ctx: Context): Promise<void> {
  const vm = resolveVm(app, vmname);
  let targets: VirtualDevice[];
  if (arg !== undefined) {
    const dev = await resolveDevice(svc, app, devclass, arg, { allowUnknown: true });
    let v: VirtualDevice = { port: { backend: dev.backend, portId: dev.portId, devclass }, deviceId: dev.deviceId };
    if (opts.port || opts.onlyPort) v = { ...v, deviceId: ANY };
    if (opts.device || opts.onlyDevice) v = { ...v, port: { ...v.port, portId: ANY } };
    targets = [v];
  } else targets = assignmentsOf(vm, devclass).map((a) => assignmentDevice(a, devclass));
  await unassignDevices(ctx.store(), svc, vmname, targets);
  if (ctx.verbose < 0) return;
  const attached = await attachedTo(svc, app, vm, devclass);
  for (const t of targets) {
    const hints = attached.filter((a) => matches(t, a.device)).map((a) => `\tqvm-${devclass} detach ${vm.name} ${t.port.backend}:${a.device.portId}`);
    if (hints.length) ctx.out(`Unassigned. To detach you can now restart domain or run: \n ${hints.join('\n')}\n`);
  }
}
