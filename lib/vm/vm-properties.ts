// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Every per-qube property, per class, as data: type, default, checks, load
 * stage, help text. `qvm-prefs --help-properties`, bash completion and the
 * man pages read this same table.
 *
 * "tpl→X" in the spec (the template's current value, else X) is
 * `vm.fromTemplate(name, () => X)`.
 *
 * Reference: qubes-core-admin: qubes/vm/__init__.py, qubesvm.py, mix/net.py,
 * adminvm.py, appvm.py, templatevm.py, standalonevm.py, dispvm.py;
 * shared/spec/store-and-core-tools.md §2.3–2.5, §3.2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { kernelsDir } from '../config.js';
import { QubesPropertyValueError } from '../errors.js';
import { defaultAppvmBootmode, defaultBootmode } from './boot-modes.js';
import { hasPciDevices } from './devices.js';
import { isPreloaded, refuseTemplateChange, refuseTemplateForDispvmsOff } from './dispvm-template.js';
import { featureIsTrue } from './features.js';
import { iconOf } from './icon.js';
import { networkProperties } from './net-properties.js';
import type { PropertyDef, PropValue } from './property.js';
import type { QubesVM } from './qubes-vm.js';
import { REMOTE_VM_PROPERTIES } from './remote-vm.js';
import { matching, nonNegative, positive } from './value-checks.js';

export type VmClass = 'AdminVM' | 'AppVM' | 'TemplateVM' | 'StandaloneVM' | 'DispVM' | 'RemoteVM';
export const VM_CLASSES: readonly VmClass[] = ['AdminVM', 'AppVM', 'DispVM', 'RemoteVM', 'StandaloneVM', 'TemplateVM'];
/**
 * Qubes this machine runs (the reference's QubesVM): each has volumes, a
 * directory and a libvirt domain. Not dom0, not a RemoteVM.
 */
export const runsHere = (klass: string): boolean => klass !== 'AdminVM' && klass !== 'RemoteVM';
/** Classes `qvm-create --help-classes` offers (dom0 is not creatable). */
export const CREATABLE_CLASSES: readonly VmClass[] = ['AppVM', 'DispVM', 'StandaloneVM', 'TemplateVM'];

type Def = PropertyDef<QubesVM>;

/** Target of default_dispvm / management_dispvm must be a disposable template. */
const needsDispvmTemplate = (vm: QubesVM, v: PropValue) => {
  const target = typeof v === 'string' ? vm.app.domains.get(v) : null;
  if (target && !target.isDispvmTemplate())
    throw new QubesPropertyValueError(`VM ${target.name} is not allowed to create disposables (template_for_dispvms is not set)`);
};

const installedKernel = (baseDir: string, k: string): boolean =>
  fs.existsSync(path.join(kernelsDir(baseDir), k, 'vmlinuz'));

export function checkKernel(baseDir: string, name: string, v: PropValue): void {
  if (typeof v !== 'string' || v === '') return;
  if (v.includes('/')) throw new QubesPropertyValueError(`${name} may not contain '/'`);
  if (!installedKernel(baseDir, v)) throw new QubesPropertyValueError(`Kernel '${v}' not installed`);
}

function kernelFile(vm: QubesVM, file: string): string | undefined {
  const k = vm.get('kernel');
  if (typeof k !== 'string' || k === '') return undefined;
  try {
    return fs.readFileSync(path.join(kernelsDir(vm.app.baseDir), k, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Keep `guivm-NAME` / `audiovm-NAME` tags in step with the properties. */
export function syncGuiTags(vm: QubesVM): void {
  for (const p of ['guivm', 'audiovm']) {
    if (!vm.has(p)) continue;
    const v = vm.get(p);
    vm.tags.replacePrefixed(`${p}-`, typeof v === 'string' ? v : null);
  }
}

function runtime(vm: QubesVM) {
  return vm.app.vmm.info(vm);
}

// ---- property groups -------------------------------------------------------

const identity: Def[] = [
  {
    name: 'qid',
    type: 'int',
    writeOnce: true,
    doc: 'Internal, persistent identifier of particular domain. Note this is different from Xen domid.',
    validate: (_vm, v) => {
      if (typeof v === 'number' && (v < 0 || v > 10000)) throw new QubesPropertyValueError('qid out of range 0..10000');
    },
  },
  { name: 'name', type: 'str', writeOnce: true, doc: 'User-specified name of the domain.' },
  {
    name: 'uuid',
    type: 'uuid',
    writeOnce: true,
    doc: 'UUID from libvirt.',
  },
  { name: 'label', type: 'label', doc: 'Colourful label assigned to domain. This is the colour of the padlock in the window decorations.' },
];

/** What every class has, RemoteVM included. */
const classAndIcon: Def[] = [
  { name: 'klass', type: 'str', stateless: true, doc: 'Domain class name', default: (vm) => vm.klass },
  {
    name: 'icon',
    type: 'str',
    stateless: true,
    doc: 'Freedesktop icon name of the qube: its kind (templatevm, servicevm, appvm, ...) and label',
    default: iconOf,
  },
];

const computedCommon: Def[] = [
  ...classAndIcon,
  {
    name: 'xid',
    type: 'int',
    stateless: true,
    doc: 'Xen ID of the domain (-1 when not running).',
    default: (vm) => runtime(vm).xid,
  },
  {
    name: 'updateable',
    type: 'bool',
    forbidden: true,
    doc: 'True if this machine may be updated on its own.',
    default: (vm) => !vm.has('template'),
  },
  { name: 'include_in_backups', type: 'bool', doc: 'If this domain is to be included in default backup.', default: (vm) => (vm.klass === 'DispVM' ? vm.get('auto_cleanup') !== true : true) },
  {
    name: 'default_dispvm',
    type: 'vm',
    allowNone: true,
    loadStage: 4,
    doc: 'Default qube to be used as Disposable VM for service calls.',
    default: (vm) => (vm.klass === 'DispVM' ? (vm.get('template') ?? null) : (vm.app.get('default_dispvm') ?? null)),
    validate: needsDispvmTemplate,
  },
  {
    name: 'devices_denied',
    type: 'str',
    doc: 'List of device interface codes (7 characters each) that this qube may not use.',
    default: () => '',
    validate: matching('devices_denied', /^([bump*][0-9a-f*]{6})*$/, 'a list of 7-character interface codes'),
  },
  {
    name: 'keyboard_layout',
    type: 'str',
    doc: 'Keyboard layout for this qube (LAYOUT+VARIANT+OPTIONS).',
    default: (vm) => {
      const gui = vm.vmRef('guivm');
      return gui && gui !== vm ? gui.get('keyboard_layout') ?? 'us++' : 'us++';
    },
    validate: matching('keyboard_layout', /^[A-Za-z0-9_()-]*\+[A-Za-z0-9_()-]*\+[A-Za-z0-9_():,-]*$/, 'LAYOUT+VARIANT+OPTIONS'),
  },
];

const adminVm: Def[] = [
  { name: 'qid', type: 'int', forbidden: true, doc: 'Internal, persistent identifier of particular domain.', default: () => 0 },
  { name: 'name', type: 'str', forbidden: true, doc: 'The name of this domain.', default: () => 'dom0' },
  { name: 'uuid', type: 'uuid', forbidden: true, doc: 'Machine UUID.', default: () => '00000000-0000-0000-0000-000000000000' },
  { name: 'label', type: 'label', doc: 'Colourful label assigned to domain.' },
  {
    name: 'maxmem',
    type: 'int',
    forbidden: true,
    doc: 'Maximum memory of dom0 in MiB (from the hypervisor).',
    default: (vm) => (vm.app.vmm.offline ? 4096 : vm.app.vmm.hostMemoryMiB()),
  },
  ...computedCommon.filter((d) => d.name !== 'include_in_backups'),
  { name: 'include_in_backups', type: 'bool', doc: 'If this domain is to be included in default backup.', default: () => true },
];

const qubesVm: Def[] = [
  ...identity,
  ...computedCommon,
  {
    name: 'virt_mode',
    type: 'str',
    choices: ['hvm', 'pv', 'pvh'],
    normalize: (v) => v.toLowerCase(),
    doc: 'Virtualisation mode: full virtualisation ("hvm"), or paravirtualisation ("pv"), or hybrid ("pvh"). Default is "pvh" if no PCI devices are attached, "hvm" otherwise.',
    default: (vm) => (hasPciDevices(vm.devices) ? 'hvm' : vm.fromTemplate('virt_mode', () => 'pvh')),
    validate: (vm, v) => {
      if (v === 'pvh' && hasPciDevices(vm.devices))
        throw new QubesPropertyValueError("pvh mode can't be set if pci devices are attached");
    },
  },
  {
    name: 'memory',
    type: 'int',
    doc: 'Memory currently available for this VM (MiB).',
    default: (vm) => vm.fromTemplate('memory', () => 400),
    validate: positive('memory'),
  },
  {
    name: 'maxmem',
    type: 'int',
    doc: 'Maximum amount of memory available for this VM (for the purpose of the memory balancer). Set to 0 to disable memory balancing for this qube.',
    default: (vm) => defaultMaxmem(vm),
    validate: nonNegative('maxmem'),
  },
  {
    name: 'vcpus',
    type: 'int',
    doc: 'Number of virtual CPUs for a qube.',
    default: (vm) => vm.fromTemplate('vcpus', () => 2),
    validate: positive('vcpus'),
  },
  {
    name: 'kernel',
    type: 'str',
    doc: 'Kernel used by this domain. Empty means boot from the qube\'s own bootloader.',
    default: (vm) => vm.fromTemplate('kernel', () => vm.app.get('default_kernel') ?? ''),
    validate: (vm, v) => checkKernel(vm.app.baseDir, 'kernel', v),
  },
  {
    name: 'kernelopts',
    type: 'str',
    loadStage: 4,
    doc: 'Kernel command line passed to domain.',
    default: (vm) => {
      const k = vm.get('kernel');
      if (typeof k !== 'string' || k === '') return '';
      if (hasPciDevices(vm.devices)) return kernelFile(vm, 'default-kernelopts-pci.txt') ?? '';
      return vm.fromTemplate('kernelopts', () => kernelFile(vm, 'default-kernelopts-nopci.txt') ?? 'swiotlb=2048');
    },
    validate: (_vm, v) => {
      if (typeof v === 'string' && v.length > 512) throw new QubesPropertyValueError('kernelopts longer than 512 characters');
    },
  },
  { name: 'debug', type: 'bool', doc: 'Turns on debugging features.', default: () => false },
  {
    name: 'default_user',
    type: 'str',
    doc: 'Default user to start applications as.',
    default: (vm) => vm.fromTemplate('default_user', () => 'user'),
    validate: matching('default_user', /^[A-Za-z0-9_+,.-]+$/, 'allowed: letters, digits, _ + , . -'),
  },
  {
    name: 'qrexec_timeout',
    type: 'int',
    doc: 'Time in seconds after which qrexec connection attempt is deemed failed.',
    default: (vm) => vm.fromTemplate('qrexec_timeout', () => vm.app.get('default_qrexec_timeout') ?? 60),
    validate: positive('qrexec_timeout'),
  },
  {
    name: 'shutdown_timeout',
    type: 'int',
    doc: 'Time in seconds for shutdown of the VM, after which VM may be forcefully powered off.',
    default: (vm) => vm.fromTemplate('shutdown_timeout', () => vm.app.get('default_shutdown_timeout') ?? 60),
    validate: positive('shutdown_timeout'),
  },
  { name: 'autostart', type: 'bool', doc: 'Setting this to True means that VM should be autostarted on dom0 boot.', default: () => false },
  { name: 'installed_by_rpm', type: 'bool', doc: "If this domain's image was installed from package tracked by package manager.", default: () => false },
  { name: 'backup_timestamp', type: 'int', doc: 'Time of last backup of the qube, in seconds since unix epoch.' },
  { name: 'stubdom_mem', type: 'int', doc: 'Memory amount allocated for the stubdom.', validate: positive('stubdom_mem') },
  {
    name: 'guivm',
    type: 'vm',
    allowNone: true,
    loadStage: 4,
    doc: 'VM used for Gui',
    default: (vm) => vm.app.get('default_guivm') ?? null,
    afterChange: syncGuiTags,
  },
  {
    name: 'audiovm',
    type: 'vm',
    allowNone: true,
    loadStage: 4,
    doc: 'VM used for Audio',
    default: (vm) => vm.app.get('default_audiovm') ?? null,
    afterChange: syncGuiTags,
  },
  {
    name: 'management_dispvm',
    type: 'vm',
    allowNone: true,
    loadStage: 4,
    doc: 'Default DVM template for Disposable VM for managing this VM.',
    default: (vm) => vm.fromTemplate('management_dispvm', () => vm.app.get('management_dispvm') ?? null),
    validate: needsDispvmTemplate,
  },
  {
    name: 'bootmode',
    type: 'str',
    loadStage: 4,
    doc: "Boot mode the qube starts in ('default': no extra kernel options). Default: the boot-mode.active feature, else the template's appvm_default_bootmode, when that mode's boot-mode.kernelopts.MODE feature exists.",
    default: defaultBootmode,
  },
  { name: 'start_time', type: 'str', stateless: true, doc: 'Time of start of the qube (empty when not running).', default: (vm) => runtime(vm).startTime ?? '' },
  { name: 'stubdom_xid', type: 'int', stateless: true, doc: 'Xen ID of the stub domain (-1 if none).', default: () => -1 },
  { name: 'stubdom_uuid', type: 'str', stateless: true, doc: 'UUID of the stub domain.', default: () => '' },
  ...networkProperties(),
];

/**
 * Reference `_default_maxmem`: 0 without Xen, with PCI devices, or for HVM
 * without qrexec/meminfo-writer support; otherwise tpl→ min(memory*10 for
 * Linux else 4000, half of host RAM). Offline the hypervisor cannot be asked,
 * so the default is reported as unavailable (undefined) instead of raising
 * as the reference does (spec §2.5 [rec]).
 */
function defaultMaxmem(vm: QubesVM): PropValue | undefined {
  const vmm = vm.app.vmm;
  if (vmm.offline) return undefined;
  if (!vmm.isXen() || hasPciDevices(vm.devices)) return 0;
  if (vm.get('virt_mode') === 'hvm') {
    const qrexec = featureIsTrue(vm.features.get('qrexec') ?? vm.templateVm()?.features.get('qrexec'));
    if (!qrexec) return 0;
  }
  return vm.fromTemplate('maxmem', () => {
    const mem = Number(vm.get('memory'));
    const linux = (vm.features.get('os') ?? vm.templateVm()?.features.get('os')) === 'Linux';
    return Math.min(linux ? mem * 10 : 4000, Math.floor(vmm.hostMemoryMiB() / 2));
  });
}

const templateFor = (klass: 'AppVM' | 'DispVM'): Def => ({
  name: 'template',
  type: 'vm',
  loadStage: 4,
  doc: klass === 'AppVM' ? 'Template, on which this AppVM is based.' : 'AppVM, on which this DispVM is based.',
  resetError: 'Cannot unset template',
  default: klass === 'DispVM' ? (vm) => vm.app.get('default_dispvm') ?? undefined : undefined,
  validate: (vm, v) => {
    const t = typeof v === 'string' ? vm.app.domains.get(v) : null;
    if (!t) throw new QubesPropertyValueError('Cannot unset template');
    if (klass === 'AppVM' && t.klass !== 'TemplateVM')
      throw new QubesPropertyValueError(`Template for the qube must be a TemplateVM, not ${t.klass} (${t.name})`);
    if (klass === 'DispVM' && !t.isDispvmTemplate())
      throw new QubesPropertyValueError(`Qube ${t.name} is not a disposable template (template_for_dispvms is not set)`);
    refuseTemplateChange(vm, t.name);
  },
});

const templateForDispvms: Def = {
  name: 'template_for_dispvms',
  type: 'bool',
  doc: 'Should this VM be allowed to start as Disposable VM',
  default: () => false,
  validate: (vm, v) => {
    if (v === false) refuseTemplateForDispvmsOff(vm);
  },
  beforeReset: refuseTemplateForDispvmsOff,
};

const byClass: Record<VmClass, Def[]> = {
  AdminVM: adminVm,
  AppVM: [...qubesVm, templateFor('AppVM'), templateForDispvms],
  TemplateVM: [
    ...qubesVm,
    {
      name: 'appvm_default_bootmode',
      type: 'str',
      loadStage: 4,
      doc: 'Boot mode of the qubes based on this template, unless they choose their own. Default: the boot-mode.appvm-default feature, else default.',
      default: defaultAppvmBootmode,
    },
  ],
  StandaloneVM: [...qubesVm, templateForDispvms],
  DispVM: [
    ...qubesVm,
    templateFor('DispVM'),
    { name: 'dispid', type: 'int', writeOnce: true, doc: 'Internal, persistent identifier of particular DispVM.' },
    { name: 'auto_cleanup', type: 'bool', doc: 'automatically remove this VM upon shutdown', default: () => false },
    { name: 'is_preload', type: 'bool', stateless: true, doc: "Whether this disposable is a preloaded one (listed in its template's preload-dispvm feature).", default: isPreloaded },
  ],
  RemoteVM: [...identity, ...classAndIcon, ...REMOTE_VM_PROPERTIES],
};

const cache = new Map<VmClass, ReadonlyMap<string, Def>>();

export function propertiesFor(klass: VmClass): ReadonlyMap<string, Def> {
  let m = cache.get(klass);
  if (!m) {
    m = new Map(byClass[klass].map((d) => [d.name, d]));
    cache.set(klass, m);
  }
  return m;
}

export const isVmClass = (s: string): s is VmClass => (VM_CLASSES as readonly string[]).includes(s);

/** Property names across every class (for completion). */
export function allVmPropertyNames(): string[] {
  const names = new Set<string>();
  for (const k of VM_CLASSES) for (const n of propertiesFor(k).keys()) names.add(n);
  return [...names].sort();
}
