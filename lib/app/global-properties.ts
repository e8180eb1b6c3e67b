// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Global (store-wide) properties, as data. All are load stage 3, so the
 * writer emits them alphabetically.
 *
 * Reference: qubes-core-admin: qubes/app.py (class Qubes);
 * shared/spec/store-and-core-tools.md §2.2.
 */
import { QubesPropertyValueError } from '../errors.js';
import type { PropertyDef, PropValue } from '../vm/property.js';
import { checkKernel, syncGuiTags } from '../vm/vm-properties.js';
import { netvmLoopCheck } from '../vm/net.js';
import type { Qubes } from './app.js';

type Def = PropertyDef<Qubes>;

const vmOfClass = (klass: string) => (app: Qubes, v: PropValue) => {
  const vm = typeof v === 'string' ? app.domains.get(v) : null;
  if (vm && vm.klass !== klass) throw new QubesPropertyValueError(`Qube ${vm.name} is not a ${klass}`);
};

const dispvmTemplate = (app: Qubes, v: PropValue) => {
  const vm = typeof v === 'string' ? app.domains.get(v) : null;
  if (vm && !vm.isDispvmTemplate())
    throw new QubesPropertyValueError(`VM ${vm.name} is not allowed to create disposables (template_for_dispvms is not set)`);
};

const syncAllGuiTags = (app: Qubes) => {
  for (const vm of app.domains.all()) syncGuiTags(vm);
};

const positive = (name: string) => (_app: Qubes, v: PropValue) => {
  if (typeof v === 'number' && v <= 0) throw new QubesPropertyValueError(`${name} must be positive`);
};

/**
 * Reference default_pool: a pool named "default"; else an lvm_thin pool
 * matching DEFAULT_LVM_POOL (VG/POOL); else a file or file-reflink pool at
 * the base directory. Unset when none fits.
 */
function defaultPool(app: Qubes): string | undefined {
  if (app.pools.has('default')) return 'default';
  const lvm = app.defaultLvmPool;
  for (const p of app.pools.values()) {
    if (p.driver === 'lvm_thin' && lvm && `${p.attr('volume_group')}/${p.attr('thin_pool')}` === lvm) return p.name;
  }
  for (const p of app.pools.values()) {
    if ((p.driver === 'file' || p.driver === 'file-reflink') && p.attr('dir_path') === app.baseDir) return p.name;
  }
  return undefined;
}

const poolDefault = (name: string): Def => ({
  name,
  type: 'pool',
  doc: `Default storage pool for ${name.replace('default_pool_', '')} volumes`,
  default: (app) => app.get('default_pool') ?? undefined,
});

export const GLOBAL_PROPERTIES: Def[] = [
  {
    name: 'default_template',
    type: 'vm',
    allowNone: true,
    doc: 'Default template for new AppVMs',
    validate: vmOfClass('TemplateVM'),
  },
  {
    name: 'default_netvm',
    type: 'vm',
    allowNone: true,
    doc: 'Default NetVM for AppVMs. Initial state is `None`, which means that AppVMs are not connected to the Internet.',
    default: () => null,
    validate: (app, v) => {
      const target = typeof v === 'string' ? app.domains.get(v) : null;
      if (!target) return;
      if (!target.providesNetwork()) throw new QubesPropertyValueError(`The ${target.name} qube does not provide network`);
      for (const vm of app.domains.all()) {
        if (!vm.has('netvm') || !vm.isDefault('netvm') || vm.klass === 'TemplateVM') continue;
        try {
          netvmLoopCheck(vm, target);
        } catch {
          throw new QubesPropertyValueError(`Network loop on '${vm.name}'`);
        }
      }
    },
  },
  { name: 'default_guivm', type: 'vm', allowNone: true, doc: 'Default GuiVM for VMs.', default: () => 'dom0', afterChange: syncAllGuiTags },
  { name: 'default_audiovm', type: 'vm', allowNone: true, doc: 'Default AudioVM for VMs.', default: () => 'dom0', afterChange: syncAllGuiTags },
  { name: 'updatevm', type: 'vm', allowNone: true, doc: 'Which VM to use as `yum` proxy for updating AdminVM and TemplateVMs', default: () => null },
  {
    name: 'clockvm',
    type: 'vm',
    allowNone: true,
    doc: 'Which VM to use as NTP proxy for updating AdminVM',
    default: () => null,
    // The clock service follows the clockvm (reference app.py).
    afterChange: (app, old) => {
      const before = typeof old === 'string' ? app.domains.get(old) : undefined;
      const now = app.domains.get(String(app.get('clockvm') ?? ''));
      if (before && before !== now) before.features.delete('service.clocksync');
      if (now && !now.features.has('service.clocksync')) now.features.set('service.clocksync', true);
    },
  },
  { name: 'default_dispvm', type: 'vm', allowNone: true, doc: 'Default DispVM base for service calls', default: () => null, validate: dispvmTemplate },
  { name: 'management_dispvm', type: 'vm', allowNone: true, doc: 'Default DispVM base for managing VMs', default: () => null, validate: dispvmTemplate },
  {
    name: 'default_kernel',
    type: 'str',
    doc: 'Which kernel to use when not overriden in VM',
    validate: (app, v) => checkKernel(app.baseDir, 'default_kernel', v),
  },
  {
    name: 'default_pool',
    type: 'pool',
    doc: 'Default storage pool',
    default: defaultPool,
  },
  poolDefault('default_pool_kernel'),
  poolDefault('default_pool_private'),
  poolDefault('default_pool_root'),
  poolDefault('default_pool_volatile'),
  { name: 'default_qrexec_timeout', type: 'int', doc: 'Default time in seconds after which qrexec connection attempt is deemed failed', default: () => 60, validate: positive('default_qrexec_timeout') },
  { name: 'default_shutdown_timeout', type: 'int', doc: 'Default time in seconds for VM shutdown to complete', default: () => 60, validate: positive('default_shutdown_timeout') },
  { name: 'stats_interval', type: 'int', doc: 'Interval in seconds for VM stats reporting (memory, CPU usage)', default: () => 3, validate: positive('stats_interval') },
  { name: 'check_updates_vm', type: 'bool', doc: 'Check for updates inside qubes', default: () => true },
  {
    name: 'maxmem',
    type: 'int',
    forbidden: true,
    doc: 'Maximum memory of the host in MiB (from the hypervisor; unavailable offline)',
    default: (app) => (app.vmm.offline ? undefined : app.vmm.hostMemoryMiB()),
  },
  {
    name: 'no_cpus',
    type: 'int',
    forbidden: true,
    doc: 'Number of CPUs of the host (from the hypervisor; unavailable offline)',
    default: () => undefined,
  },
];

export const GLOBAL_PROPERTY_MAP: ReadonlyMap<string, Def> = new Map(GLOBAL_PROPERTIES.map((d) => [d.name, d]));
