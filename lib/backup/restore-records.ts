// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The host records of restored qubes: created in an in-memory store (once
 * before the data is read, to know the volumes the data goes to, and again
 * under the store lock when the data is complete), templates first, with
 * the backup's properties (but identity, template, netvm, default_dispvm,
 * installed_by_rpm, dispid), features (but backup-*), tags and device
 * assignments; netvm and default_dispvm last, through renames.
 *
 * What comes from a backup passes the checks the commands apply before it
 * can reach the store. Properties are set through the property system, as
 * qvm-prefs sets them. `checkBackupQube` refuses a qube whose feature
 * names (qvm-features), service names (qvm-service) or tags (qvm-tags) are
 * invalid, or whose feature values or device assignments hold a character
 * XML 1.0 forbids (no XML parser reads a store holding one). Device
 * assignments are made with qvm-device's `assign`, whose refusals (an
 * unknown option, a PCI device this host lacks) are warnings, as per-item
 * failures are in the reference.
 * Reference: qubesadmin/backup/restore.py _restore_vms_metadata; spec §4.5.
 */
import type { Pool, Qubes } from '../app/app.js';
import { assign, type DeviceServices } from '../devices/operations.js';
import { BackupError } from '../errors.js';
import { validateFeatureName } from '../vm/features.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { SERVICE_PREFIX, validateServiceName } from '../vm/services.js';
import { validateTag } from '../vm/tags.js';
import { addVmRecord } from '../app/vm-factory.js';
import { syncGuiTags, type VmClass } from '../vm/vm-properties.js';
import { setVolumeAttr, volumeAttr } from '../vm/volume-config.js';
import type { PlanEntry } from './restore-plan.js';

const SKIP_PROPS = new Set(['name', 'qid', 'uuid', 'label', 'template', 'netvm', 'default_dispvm', 'installed_by_rpm', 'dispid', 'template_for_dispvms']);

const order = (e: PlanEntry): number => (e.klass === 'TemplateVM' ? 0 : e.vm.isDispvmTemplate() ? 1 : 2);

/**
 * A character XML 1.0 does not allow (§2.2): C0 controls but tab, newline
 * and carriage return; U+FFFE, U+FFFF; a surrogate not part of a pair.
 */
const NOT_XML_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkXmlText(what: string, text: string): void {
  const bad = NOT_XML_CHAR.exec(text)?.[0];
  if (bad !== undefined) throw new Error(`${what} holds the character U+${(bad.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}, which XML 1.0 does not allow`);
}

/**
 * Refuse a qube of the backup whose metadata the commands would refuse
 * (checked before anything is restored or verified, so the user can
 * exclude it and restore the others).
 * @throws BackupError naming the qube and what is wrong
 */
export function checkBackupQube(e: PlanEntry): void {
  const vm = e.vm;
  try {
    for (const [k, v] of vm.features.entries()) {
      validateFeatureName(k);
      if (k.startsWith(SERVICE_PREFIX)) validateServiceName(k.slice(SERVICE_PREFIX.length));
      checkXmlText(`feature ${k}`, v);
    }
    for (const t of vm.tags.set) validateTag(t);
    for (const d of vm.devices) {
      checkXmlText('a device class', d.devclass);
      for (const a of d.assignments) {
        const what = `${d.devclass} device ${a.backend}:${a.port}`.replace(NOT_XML_CHAR, '?');
        for (const [field, text] of [['backend', a.backend], ['port', a.port], ['device id', a.identity]]) checkXmlText(`the ${field} of ${what}`, text as string);
        for (const [k, v] of a.options) checkXmlText(`option ${k} of ${what}`.replace(NOT_XML_CHAR, '?'), `${k}${v}`);
      }
    }
  } catch (err) {
    throw new BackupError(`qube '${e.name}' of the backup: ${(err as Error).message}; nothing was restored (exclude it with -x ${e.name} to restore the others)`);
  }
}

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
export function addRestoredRecords(
  app: Qubes,
  entries: PlanEntry[],
  devices: DeviceServices,
  /** The pool whose driver names a pool's volumes (storage/pools.ts volumeNaming). */
  namingPool: (record: Pool) => Pool,
  warn: (msg: string) => void,
  sizes?: Map<string, Map<string, number>>,
): Map<string, QubesVM> {
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
      namingPool,
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
    // checked by checkBackupQube: names as qvm-features takes them, values XML can hold
    for (const [k, v] of src.features.entries()) if (!k.startsWith('backup-')) vm.features.map.set(k, v);
    for (const t of src.tags.sorted()) vm.tags.add(t);
    for (const d of src.devices) {
      for (const a of d.assignments) {
        const device = { port: { backend: a.backend, portId: a.port, devclass: d.devclass }, deviceId: a.identity };
        try {
          assign(devices, vm, { device, mode: a.mode, options: a.options });
        } catch (err) {
          warn(`${d.devclass} device ${a.backend}:${a.port} of ${e.restoreName} not assigned: ${(err as Error).message}`);
        }
      }
    }
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
