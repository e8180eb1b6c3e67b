// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A drive for one start of a qube (`qvm-start --drive`, `--cdrom`,
 * `--hddisk`, `--install-windows-tools`): a block device of a backend qube
 * given to the domain as a CD-ROM or a hard disk for that start only.
 *
 * The text is `[cdrom:|hd:]BACKEND:PORT` or `[cdrom:|hd:]BACKEND:/PATH`
 * (CD-ROM when neither prefix is given). A path of dom0 gets a loop device
 * here (`losetup`, read-only for a CD-ROM); a path inside another qube
 * would need a command run in that qube (qrexec), which this build does
 * not have, so only its exposed block devices can be named. The device
 * must be exposed by its backend now, as the reference's start demands of
 * a required device.
 *
 * The result is a required block assignment that is never stored: the
 * lifecycle renders it into the domain XML of this start only, which is
 * what the reference's client achieves by assigning it before the start
 * and unassigning it after. A loop device made here is released once the
 * start is over: detached at once when the start failed, and otherwise
 * left to the kernel's autoclear, which frees it when the domain closes it
 * (the qube stops), where the reference leaves it attached for good.
 *
 * Reference: qubesadmin/utils/__init__.py get_drive_assignment,
 * start_expert, DriveAction; qubesadmin/tools/qvm_start.py;
 * shared/spec/vmm.md §6.2.
 */
import type { Qubes } from '../app/app.js';
import { DeviceAlreadyAssigned, QubesError, QubesValueError, QubesVMNotFoundError } from '../errors.js';
import { asRoot, type CommandRunner } from '../storage/command-runner.js';
import type { DeviceAssignment } from '../vm/devices.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { flavourFor } from '../vmm/domain-xml/template-override.js';
import type { DeviceEnumerator } from './enumerate.js';
import { blockReadOnly, type Options } from './options.js';
import { assignmentsOf } from './operations.js';

export type DriveType = 'cdrom' | 'disk';

export interface DriveSpec {
  devtype: DriveType;
  backend: string;
  /** A port of the backend (`sdb`, `loop3`) or an absolute path in it. */
  target: string;
}

/**
 * `[cdrom:|hd:]BACKEND:PORT|PATH`, split at the first `:` after the prefix.
 * @throws QubesValueError for text without a backend and a target
 */
export function parseDrive(text: string): DriveSpec {
  let devtype: DriveType = 'cdrom';
  let rest = text;
  if (rest.startsWith('cdrom:')) rest = rest.slice('cdrom:'.length);
  else if (rest.startsWith('hd:')) {
    devtype = 'disk';
    rest = rest.slice('hd:'.length);
  }
  const i = rest.indexOf(':');
  if (i <= 0 || i === rest.length - 1)
    throw new QubesValueError('Incorrect image name: image must be in the format of VMNAME:full_path, for example dom0:/home/user/test.iso');
  return { devtype, backend: rest.slice(0, i), target: rest.slice(i + 1) };
}

/** The backend qube of a drive. @throws QubesVMNotFoundError */
export function driveBackend(app: Qubes, spec: DriveSpec): QubesVM {
  const vm = app.domains.get(spec.backend);
  if (!vm) throw new QubesVMNotFoundError(spec.backend);
  return vm;
}

export interface StartDrive {
  /** The required, never stored, assignment to render for this start. */
  assignment: DeviceAssignment;
  /** Let go of what was made for it (a loop device); call once the start is over, whatever its outcome. */
  release(): Promise<string[]>;
}

export interface DriveContext {
  app: Qubes;
  enumerator: DeviceEnumerator;
  runner: CommandRunner;
}

const LOOP_RE = /^\/dev\/(loop\d+)$/;
/** losetup's output is parsed (the device) and its errors are shown: untranslated. */
const LOSETUP_ENV = { LC_ALL: 'C' };

/** A loop device of a dom0 file, read-only for a CD-ROM. @returns its port (`loop3`) */
async function loopDevice(runner: CommandRunner, file: string, devtype: DriveType): Promise<string> {
  const argv = ['losetup', '--find', '--show', ...(devtype === 'cdrom' ? ['--read-only'] : []), file];
  const r = await runner.run(asRoot(argv), { env: LOSETUP_ENV });
  const dev = r.stdout.trim();
  const port = LOOP_RE.exec(dev)?.[1];
  if (r.exitCode !== 0 || !port) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.exitCode}`;
    throw new QubesError(`Failed to setup loop device for ${file}: ${why}`);
  }
  return port;
}

/**
 * Make the drive ready for `vm`'s start: the loop device of a dom0 path,
 * the checks, and the assignment to render.
 * @throws QubesError (no loop device, a path in another qube, a device its
 *   backend does not expose, a device of another backend for a QEMU
 *   domain, an assignment the qube already has)
 */
export async function prepareDrive(ctx: DriveContext, vm: QubesVM, spec: DriveSpec): Promise<StartDrive> {
  const { runner } = ctx;
  const backend = driveBackend(ctx.app, spec);
  let port = spec.target;
  let loop: string | undefined;
  if (spec.target.startsWith('/')) {
    if (backend.klass !== 'AdminVM')
      throw new QubesError(
        `Cannot set up ${spec.target} in ${backend.name}: a loop device in another qube needs qrexec, which this build does not have; name a block device it exposes (${backend.name}:PORT, see qvm-block)`,
      );
    port = loop = await loopDevice(runner, spec.target, spec.devtype);
  }
  const release = async (): Promise<string[]> => {
    if (!loop) return [];
    // a device the domain holds is only marked for autoclear: the kernel frees it when the domain closes it
    const r = await runner.run(asRoot(['losetup', '--detach', `/dev/${loop}`]), { env: LOSETUP_ENV });
    return r.exitCode === 0 ? [] : [`cannot release /dev/${loop}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`];
  };
  try {
    return { assignment: await driveAssignment(ctx, vm, backend, port, spec.devtype), release };
  } catch (e) {
    await release();
    throw e;
  }
}

async function driveAssignment(ctx: DriveContext, vm: QubesVM, backend: QubesVM, port: string, devtype: DriveType): Promise<DeviceAssignment> {
  const name = `${backend.name}:${port}`;
  if (assignmentsOf(vm, 'block').some((a) => a.backend === backend.name && a.port === port && a.identity === '*'))
    throw new DeviceAlreadyAssigned(`block device ${name}:* already assigned to ${vm.name}`);
  if (backend.klass !== 'AdminVM' && flavourFor(ctx.app.vmm.uri) === 'qemu')
    throw new QubesError(`Cannot attach ${name}: QEMU domains take block devices from dom0 only (no backend domains)`);
  const dev = await ctx.enumerator.get(backend, 'block', port);
  if (dev.unknown) throw new QubesError(`Block device ${name} not available`);
  const mode = dev.data.find(([k]) => k === 'mode')?.[1] ?? 'w';
  // a CD-ROM is read-only; a disk is as writable as the device is
  const options: Options = blockReadOnly([['devtype', devtype], ...(devtype === 'cdrom' ? ([['read-only', 'yes']] as Options) : [])], mode);
  return { backend: backend.name, port, mode: 'required', identity: '*', options };
}
