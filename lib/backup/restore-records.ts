// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The host records of restored qubes: created in an in-memory store (once
 * before the data is read, to know the volumes the data goes to, and again
 * under the store lock when the data is complete), templates first, with
 * the backup's properties (but identity, template, netvm, default_dispvm,
 * installed_by_rpm, dispid), features (but backup-*), tags and device
 * assignments; netvm and default_dispvm last, through renames.
 * Reference: qubesadmin/backup/restore.py _restore_vms_metadata; spec §4.5.
 */
import type { Qubes } from '../app/app.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { volumeNaming } from '../storage/pools.js';
import { addVmRecord } from '../vm/vm-factory.js';
import { syncGuiTags, type VmClass } from '../vm/vm-properties.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import type { PlanEntry } from './restore-plan.js';

const SKIP_PROPS = new Set(['name', 'qid', 'uuid', 'label', 'template', 'netvm', 'default_dispvm', 'installed_by_rpm', 'dispid', 'template_for_dispvms']);

const order = (e: PlanEntry): number => (e.klass === 'TemplateVM' ? 0 : e.vm.isDispvmTemplate() ? 1 : 2);

/** Size of a volume in the backup's volume-config. */
export function backupVolumeSize(vm: QubesVM, volume: string): number | undefined {
  const c = vm.volumeConfig.find((v) => volumeAttr(v, 'name') === volume);
  const n = Number(c ? volumeAttr(c, 'size') : undefined);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Add the records of `entries` (problem-free, not dom0) to `app`.
 * `sizes` (volume sizes of restored data, by qube and volume) win over
 * the backup's recorded sizes. Per-item failures become warnings.
 */
export function addRestoredRecords(app: Qubes, entries: PlanEntry[], warn: (msg: string) => void, sizes?: Map<string, Map<string, number>>): Map<string, QubesVM> {
  const out = new Map<string, QubesVM>();
  const renamed = new Map(entries.map((e) => [e.name, e.restoreName]));
  for (const e of [...entries].sort((a, b) => order(a) - order(b))) {
    const src = e.vm;
    const labelRaw = src.props.get('label') ?? '';
    let label = 'red';
    try {
      label = app.labels.get(src.app.labels.get(labelRaw).name).name;
    } catch {
      warn(`Label ${labelRaw} of ${e.name} does not exist on the host, using red`);
    }
    const vm = addVmRecord(app, {
      klass: e.klass as VmClass,
      name: e.restoreName,
      label,
      template: src.has('template') ? e.template : undefined,
      pools: { perVolume: new Map() },
      sizeOf: (vol) => sizes?.get(e.restoreName)?.get(vol) ?? backupVolumeSize(src, vol),
      namingPool: volumeNaming(),
    });
    if (src.isDispvmTemplate()) vm.set('template_for_dispvms', 'True');
    for (const [name, raw] of src.props) {
      if (SKIP_PROPS.has(name) || !vm.has(name)) continue;
      const def = vm.defs.get(name);
      if (def?.stateless || def?.forbidden) continue;
      try {
        vm.set(name, raw);
      } catch (err) {
        warn(`Error setting ${e.restoreName}.${name} to ${raw}: ${(err as Error).message}`);
      }
    }
    for (const [k, v] of src.features.entries()) if (!k.startsWith('backup-')) vm.features.map.set(k, v);
    for (const t of src.tags.sorted()) vm.tags.add(t);
    vm.devices = structuredClone(src.devices);
    syncGuiTags(vm);
    for (const c of vm.volumeConfig) {
      const s = sizes?.get(e.restoreName)?.get(volumeAttr(c, 'name') ?? '');
      if (s !== undefined && volumeAttr(c, 'snap_on_start') !== 'True') setVolumeAttr(c, 'size', String(s));
    }
    out.set(e.restoreName, vm);
  }
  for (const e of entries) {
    const vm = out.get(e.restoreName) as QubesVM;
    for (const prop of ['netvm', 'default_dispvm']) {
      if (!e.vm.props.has(prop) || !vm.has(prop)) continue;
      if (prop === 'netvm' && e.netvmDropped) continue;
      const raw = e.vm.props.get(prop) as string;
      const value = raw === '' ? '' : (renamed.get(raw) ?? raw);
      try {
        vm.set(prop, value);
      } catch (err) {
        warn(`Error setting ${e.restoreName}.${prop} to ${value}: ${(err as Error).message}`);
      }
    }
  }
  return out;
}
