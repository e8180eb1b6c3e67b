// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Everything a domain XML template needs to know about one qube, computed
 * once from the store, the storage drivers, sysfs and the kernel
 * directory: memory, kernel and command line, disks with their frontend
 * names, network interface, PCI devices, HVM device model. The templates
 * (xen.ts, qemu.ts) only arrange these values into elements.
 *
 * Reference: qubes-core-admin templates/libvirt/xen.xml and devices/*.xml,
 * qubes/vm/qubesvm.py (kernelopts_common, bootmode_kernelopts,
 * use_memory_hotplug, block_devices); shared/spec/vmm.md §2.2.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../../app/app.js';
import { kernelsDir } from '../../config.js';
import { pciHostdev, type PciHostdev } from './pci-hostdev.js';
import { pathToSbdf } from '../../host/pci-path.js';
import { QubesError } from '../../errors.js';
import type { PoolSet } from '../../storage/qube-storage.js';
import { bootmodeKernelopts } from '../../vm/boot-modes.js';
import type { DeviceAssignment } from '../../vm/devices.js';
import { checkWithTemplate, featureIsTrue } from '../../vm/features.js';
import type { QubesVM } from '../../vm/qubes-vm.js';

export type VirtMode = 'hvm' | 'pvh' | 'pv';

export interface DiskParams {
  /** Device node or image file. */
  path: string;
  devtype: string;
  /** The volume name (`root`, `private`, …) or, for an assigned device, undefined. */
  volume?: string;
  /** The Xen frontend name (`xvda`…). */
  target: string;
  readonly: boolean;
  /** Backend qube when not dom0. */
  backend?: string;
  /** The block script Xen runs in the backend; undefined for none. */
  script?: string;
}

export interface NetParams {
  mac: string;
  ip: string;
  ip6?: string;
  backend: string;
}

export interface HvmParams {
  linuxStubdom: boolean;
  cmdline: string;
  stubdomMemKiB?: number;
  /** The full Linux stubdomain (with audio or qrexec) */
  fullStubdom: boolean;
  uefi: boolean;
  timezone: { basis: 'localtime' | 'utc'; adjustment: string };
  audioModel?: string;
  /** undefined: no emulated video card (video-model none). */
  videoModel?: string;
  /** `<graphics type="qubes">` attributes, when there is one. */
  graphics?: { domain?: string; logLevel?: string };
}

export interface DomainParams {
  name: string;
  uuid: string;
  virtMode: VirtMode;
  memoryMiB: number;
  maxmemMiB: number;
  vcpus: number;
  memoryHotplug: boolean;
  pciAssigned: boolean;
  /** The qube's kernel, when it has one (else the Xen pvgrub loader or firmware). */
  kernel?: { dir: string; vmlinuz: string; initrd?: string; cmdline: string };
  /** pv/pvh boot loader when the qube has no kernel. */
  pvgrub?: string;
  disableRdrand: boolean;
  e820Host: boolean;
  disks: DiskParams[];
  network?: NetParams;
  pci: PciHostdev[];
  hvm?: HvmParams;
}

export interface ParamsOptions {
  /** The store's pools (blockDevice of each volume). */
  pools: PoolSet;
  /** sysfs root (PCI addresses and classes). */
  sysRoot: string;
  /** /proc/cpuinfo text (rdrand quirk). */
  cpuinfo: () => string;
  /** Current xid of a qube, -1 when not running (audio and GUI domains). */
  xidOf: (vm: QubesVM) => number;
  /** Required block assignments of this start only, after the stored ones (qvm-start's drive options). */
  startOnlyBlock?: DeviceAssignment[];
}

const VOLUME_TARGETS: Record<string, string> = { root: 'xvda', private: 'xvdb', volatile: 'xvdc', kernel: 'xvdd' };
const EXTRA_LETTERS = 'efghijklmnopqrstuvwxy';
const BLOCK_SCRIPT = '/etc/xen/scripts/qubes-block';
export const DEFAULT_KERNELOPTS_COMMON =
  'root=/dev/mapper/dmroot ro nomodeset console=hvc0 rd_NO_PLYMOUTH rd.plymouth.enable=0 plymouth.enable=0 xen_privcmd.unrestricted ';

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
const feature = (vm: QubesVM, name: string) => checkWithTemplate(vm, name);
/** A feature that counts as on unless set to an empty value. */
const featureDefaultOn = (vm: QubesVM, name: string) => feature(vm, name) !== '';

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const required = (vm: QubesVM, devclass: string): DeviceAssignment[] =>
  vm.devices.find((d) => d.devclass === devclass)?.assignments.filter((a) => a.mode === 'required') ?? [];

export async function collectDomainParams(app: Qubes, vm: QubesVM, o: ParamsOptions): Promise<DomainParams> {
  if (vm.klass === 'AdminVM') throw new QubesError('dom0 has no domain XML');
  const pciAssignments = required(vm, 'pci');
  const pciAssigned = pciAssignments.length > 0;
  const virtMode = str(vm.get('virt_mode')) as VirtMode;
  const kernelName = str(vm.get('kernel'));
  const kdir = kernelName ? path.join(kernelsDir(app.baseDir), kernelName) : undefined;
  const pci = pciAssignments.map((a) => pciDevice(app, vm, a, o.sysRoot));
  const displayPci = pciAssignments.some((a) => isDisplayDevice(o.sysRoot, a));

  const p: DomainParams = {
    name: vm.name,
    uuid: str(vm.uuid),
    virtMode,
    memoryMiB: num(vm.get('memory'), 400),
    maxmemMiB: num(vm.get('maxmem'), 0),
    vcpus: num(vm.get('vcpus'), 2),
    memoryHotplug: useMemoryHotplug(app, vm, virtMode, kdir),
    pciAssigned,
    disableRdrand: rdrandBroken(o.cpuinfo()),
    e820Host: pciAssigned && vm.features.get('pci-e820-host') !== '',
    disks: [...(await volumeDisks(vm, o.pools)), ...blockAssignmentDisks(app, vm, [...required(vm, 'block'), ...(o.startOnlyBlock ?? [])])],
    network: networkOf(vm),
    pci,
  };
  if (kdir) {
    const initrd = path.join(kdir, 'initramfs');
    p.kernel = {
      dir: kdir,
      vmlinuz: path.join(kdir, 'vmlinuz'),
      initrd: fs.existsSync(initrd) ? initrd : undefined,
      cmdline: kernelCmdline(vm, kdir, displayPci),
    };
  } else if (virtMode !== 'hvm') p.pvgrub = path.join(kernelsDir(app.baseDir), virtMode === 'pvh' ? 'pvgrub2-pvh' : 'pvgrub2', 'vmlinuz');
  if (virtMode === 'hvm') p.hvm = hvmParams(vm, o);
  return p;
}

/** Reference `use_memory_hotplug`: Xen only; the feature, else the kernel's marker or the qube's advertisement. */
function useMemoryHotplug(app: Qubes, vm: QubesVM, virtMode: VirtMode, kdir: string | undefined): boolean {
  if (app.vmm.offline || !app.vmm.isXen()) return false;
  const f = feature(vm, 'memory-hotplug');
  if (f !== undefined) return featureIsTrue(f);
  if (virtMode === 'hvm') return false;
  if (kdir) return fs.existsSync(path.join(kdir, 'memory-hotplug-supported'));
  return featureIsTrue(feature(vm, 'supported-feature.memory-hotplug'));
}

/** Ivy Bridge (family 6, models 58 and 62) has an rdrand erratum: hide it from qubes. */
function rdrandBroken(cpuinfo: string): boolean {
  const family = /^cpu family\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  const model = /^model\s*:\s*(\d+)/m.exec(cpuinfo)?.[1];
  return family === '6' && (model === '58' || model === '62');
}

/** `<cmdline>`: the common options of the kernel, the qube's, the boot mode's. */
export function kernelCmdline(vm: QubesVM, kdir: string, displayPci: boolean): string {
  const kernelopts = str(vm.get('kernelopts'));
  const bootmode = bootmodeKernelopts(vm);
  if (featureIsTrue(feature(vm, 'no-default-kernelopts'))) return kernelopts + bootmode;
  let common = readText(path.join(kdir, 'default-kernelopts-common.txt'))?.replace(/[\r\n]+$/, '') ?? DEFAULT_KERNELOPTS_COMMON;
  if (featureIsTrue(feature(vm, 'no-nomodeset')) || displayPci) common = common.replace(/\bnomodeset\b ?/, '');
  // the reference's tests: any qube not declared as another OS gets a stable machine id
  if ((feature(vm, 'os') ?? 'Linux') === 'Linux') common = `systemd.machine_id=${str(vm.uuid).replace(/-/g, '')} ${common}`;
  let lsm = '';
  if (feature(vm, 'apparmor') === '1') lsm = ' apparmor=1 security=apparmor';
  else if (feature(vm, 'selinux') === '1') lsm = ' selinux=1 security=selinux';
  return common + kernelopts + lsm + bootmode;
}

async function volumeDisks(vm: QubesVM, pools: PoolSet): Promise<DiskParams[]> {
  const out: DiskParams[] = [];
  let extra = 0;
  const storage = await pools.qube(vm);
  for (const v of storage.volumes) {
    const dev = v.pool.blockDevice(v.volume);
    if (!dev) continue;
    let target = VOLUME_TARGETS[dev.name];
    if (!target) {
      const letter = EXTRA_LETTERS[extra++];
      if (!letter) throw new QubesError(`Qube ${vm.name} has too many volumes for the frontend names xvde…xvdy`);
      target = `xvd${letter}`;
    }
    // an ephemeral volume is seen through its dm-crypt mapping
    out.push({ path: storage.devicePath(v) ?? dev.path, devtype: dev.devtype, volume: dev.name, target, readonly: !dev.rw, script: BLOCK_SCRIPT });
  }
  return out;
}

const option = (a: DeviceAssignment, name: string): string | undefined => a.options.find(([k]) => k === name)?.[1];

/** The `qubes-agent-version` a backend qube advertised is at least 4.2. */
function agentAtLeast42(backend: QubesVM | undefined): boolean {
  const v = backend?.features.get('qubes-agent-version');
  if (!v) return false;
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return major > 4 || (major === 4 && minor >= 2);
}

/**
 * Required block assignments. Frontends not given by `frontend-dev` count on
 * from xvdi independently of the volumes' counter (the reference's, so a
 * fifth extra volume would collide with the first device).
 */
function blockAssignmentDisks(app: Qubes, vm: QubesVM, assignments: DeviceAssignment[]): DiskParams[] {
  let next = 4;
  return assignments.map((a) => {
    if (a.port === '*') throw new QubesError(`Block device ${a.backend}:* (${a.identity}) not available`);
    const devtype = option(a, 'devtype') ?? 'disk';
    let target = option(a, 'frontend-dev');
    if (target === undefined) {
      if (devtype === 'cdrom' && !vm.get('kernel')) target = 'xvdd';
      else target = `xvd${EXTRA_LETTERS[next++] ?? 'z'}`;
    }
    return deviceDisk(app, { backend: a.backend, portId: a.port }, devtype, target, option(a, 'read-only') === 'yes');
  });
}

/**
 * A block device of a backend as a domain disk: its node in the backend,
 * the backend domain unless dom0, and the block script where the backend
 * runs it (dom0, or an agent of 4.2 or later).
 */
export function deviceDisk(app: Qubes, port: { backend: string; portId: string }, devtype: string, target: string, readonly: boolean): DiskParams {
  const d: DiskParams = { path: '/dev/' + port.portId.replace(/_/g, '/'), devtype, target, readonly };
  if (port.backend !== 'dom0') {
    d.backend = port.backend;
    if (agentAtLeast42(app.domains.get(port.backend))) d.script = BLOCK_SCRIPT;
  } else d.script = BLOCK_SCRIPT;
  return d;
}

/** The network interface a qube gets from its net qube (none without one). */
export function networkOf(vm: QubesVM): NetParams | undefined {
  const netvm = vm.has('netvm') ? vm.netvmVm() : null;
  if (!netvm) return undefined;
  const ip6 = str(vm.get('ip6'));
  return { mac: str(vm.get('mac')), ip: str(vm.get('ip')), ip6: ip6 || undefined, backend: netvm.name };
}

function sbdfOf(sysRoot: string, a: DeviceAssignment): string | null {
  return a.backend === 'dom0' && a.port !== '*' ? pathToSbdf(sysRoot, a.port) : null;
}

function pciDevice(app: Qubes, vm: QubesVM, a: DeviceAssignment, sysRoot: string): PciHostdev {
  const sbdf = sbdfOf(sysRoot, a);
  if (!sbdf) throw new QubesError(`PCI device ${a.backend}:${a.port} not available`);
  return pciHostdev(vm, a, sbdf, app.adminVm);
}

/** PCI class 0x03xxxx: a display controller (then the guest needs modesetting). */
function isDisplayDevice(sysRoot: string, a: DeviceAssignment): boolean {
  const sbdf = sbdfOf(sysRoot, a);
  const cls = sbdf ? readText(path.join(sysRoot, 'bus', 'pci', 'devices', sbdf, 'class')) : undefined;
  return cls !== undefined && /^0x03/.test(cls.trim());
}

function hvmParams(vm: QubesVM, o: ParamsOptions): HvmParams {
  const linuxStubdom = featureDefaultOn(vm, 'linux-stubdom');
  const audiovm = vm.vmRef('audiovm');
  const audioXid = audiovm ? o.xidOf(audiovm) : -1;
  const parts = [`-qubes-audio:audiovm_xid=${audioXid} ${feature(vm, 'qemu-extra-args') ?? ''}`.trim()];
  if (vm.get('debug') === true) parts.push('-trace xen_platform_log');
  const netvm = vm.has('netvm') ? vm.netvmVm() : null;
  if (netvm) {
    const [dns0 = '', dns1 = ''] = str(vm.get('dns')).split(' ');
    const ip = str(vm.get('ip'));
    const gw = str(netvm.get('gateway'));
    const mask = str(vm.get('visible_netmask'));
    parts.push(
      linuxStubdom
        ? `-qubes-net:client_ip=${ip},dns_0=${dns0},dns_1=${dns1},gw=${gw},netmask=${mask}`
        : `-net lwip,client_ip=${ip},server_ip=${dns1},dns=${dns0},gw=${gw},netmask=${mask}`,
    );
  }
  const tz = (feature(vm, 'timezone') ?? 'localtime').toLowerCase();
  const videoModel = feature(vm, 'video-model') ?? 'vga';
  const audioModel = feature(vm, 'audio-model') || undefined;
  const h: HvmParams = {
    linuxStubdom,
    cmdline: parts.join(' '),
    stubdomMemKiB: typeof vm.get('stubdom_mem') === 'number' ? (vm.get('stubdom_mem') as number) * 1024 : undefined,
    fullStubdom: Boolean(audioModel) || featureIsTrue(feature(vm, 'stubdom-qrexec')),
    uefi: featureIsTrue(feature(vm, 'uefi')),
    timezone:
      tz === 'localtime' ? { basis: 'localtime', adjustment: '0' } : /^-?\d+$/.test(tz) ? { basis: 'utc', adjustment: tz } : { basis: 'utc', adjustment: '0' },
    audioModel,
    videoModel: videoModel === 'none' ? undefined : videoModel,
  };
  if (h.videoModel && linuxStubdom) {
    const guivm = vm.vmRef('guivm');
    h.graphics = {
      domain: guivm && guivm.klass !== 'AdminVM' && o.xidOf(guivm) >= 0 ? guivm.name : undefined,
      logLevel: vm.get('debug') === true ? '2' : undefined,
    };
  }
  return h;
}
