// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `<volume-config>` of a qube: which volumes it has and in which pool.
 * Storage drivers act on it; this module only knows the per-class defaults
 * recorded at creation, and keeps loaded entries verbatim (attribute order
 * and all) so storage settings this version does not interpret survive.
 *
 *   snap_on_start  save_on_stop   volume is
 *   False          False          volatile: discarded at start and stop
 *   False          True           origin: persistent (private, template root)
 *   True           False          snapshot of `source`, discarded (AppVM root)
 *   True           True           origin-snapshot (rare)
 *
 * Reference: qubes-core-admin: qubes/vm/appvm.py, templatevm.py,
 * standalonevm.py, dispvm.py, qubes/storage/__init__.py;
 * shared/spec/store-and-core-tools.md §1.3 item 5.
 */
import { dirPathPrefix } from './qube-dir.js';

/** Attributes of one `<volume/>`, in file order. */
export type VolumeConfig = [string, string][];

export const volumeAttr = (v: VolumeConfig, key: string): string | undefined => v.find(([k]) => k === key)?.[1];

/** The reference writer's attribute order (qubes/vm/qubesvm.py); unknown keys go last. */
const ATTR_ORDER = ['name', 'pool', 'vid', 'revisions_to_keep', 'rw', 'save_on_stop', 'snap_on_start', 'ephemeral', 'size', 'source'];
const rank = (k: string) => (ATTR_ORDER.includes(k) ? ATTR_ORDER.indexOf(k) : ATTR_ORDER.length);

/** Set an attribute; a new one goes where the reference writer puts it. */
export function setVolumeAttr(v: VolumeConfig, key: string, value: string): void {
  const e = v.find(([k]) => k === key);
  if (e) {
    e[1] = value;
    return;
  }
  const at = v.findIndex(([k]) => rank(k) > rank(key));
  v.splice(at < 0 ? v.length : at, 0, [key, value]);
}

export const GiB = 1024 ** 3;

interface VolumeDefault {
  name: 'root' | 'private' | 'volatile' | 'kernel';
  saveOnStop: boolean;
  snapOnStart: boolean;
  rw: boolean;
  size?: number;
  /** Where a snapshot's origin lives: the template's volume of this name. */
  sourceFromTemplate?: 'root' | 'private';
  revisionsToKeep?: number;
}

const persistent = (name: 'root' | 'private', size: number): VolumeDefault => ({ name, saveOnStop: true, snapOnStart: false, rw: true, size });
const volatile = (size: number): VolumeDefault => ({ name: 'volatile', saveOnStop: false, snapOnStart: false, rw: true, size, revisionsToKeep: 0 });
const kernel: VolumeDefault = { name: 'kernel', saveOnStop: false, snapOnStart: false, rw: false, revisionsToKeep: 0 };
const snapshotOf = (name: 'root' | 'private', size: number): VolumeDefault => ({
  name,
  saveOnStop: false,
  snapOnStart: true,
  rw: true,
  size,
  sourceFromTemplate: name,
  revisionsToKeep: 0,
});

export const DEFAULT_VOLUMES: Record<string, VolumeDefault[]> = {
  TemplateVM: [persistent('root', 10 * GiB), persistent('private', 2 * GiB), volatile(10 * GiB), kernel],
  StandaloneVM: [persistent('root', 10 * GiB), persistent('private', 2 * GiB), volatile(10 * GiB), kernel],
  AppVM: [snapshotOf('root', 10 * GiB), persistent('private', 2 * GiB), volatile(10 * GiB), kernel],
  DispVM: [snapshotOf('root', 10 * GiB), snapshotOf('private', 2 * GiB), volatile(12 * GiB), kernel],
};

export interface PoolInfo {
  name: string;
  driver: string;
  /** From the pool's config, e.g. "1". */
  revisionsToKeep?: string;
  /** lvm_thin only. */
  volumeGroup?: string;
  /** zfs only. */
  container?: string;
}

export interface VolumePlanInput {
  klass: string;
  vmName: string;
  /**
   * The pool for a volume; `originPool` is set for snapshot volumes, which
   * must live in the pool of the template volume they snapshot.
   */
  poolFor: (volume: string, originPool: string | undefined) => PoolInfo;
  /** The template's volume config (for snapshot sources). */
  templateVolumes?: VolumeConfig[];
  /** Kernel version; '' is recorded as the reference records None. */
  kernel: string;
}

/** A volume's id inside its pool (`appvms/NAME/VOL`, `VG/vm-NAME-VOL`, `CONTAINER/NAME/VOL`). */
export function vidFor(pool: PoolInfo, klass: string, vmName: string, volume: string): string {
  if (pool.driver === 'lvm_thin') return `${pool.volumeGroup ?? pool.name}/vm-${vmName}-${volume}`;
  if (pool.driver === 'zfs') return `${pool.container ?? pool.name}/${vmName}/${volume}`;
  return `${dirPathPrefix(klass)}/${vmName}/${volume}`;
}

/** Volume configuration recorded for a new qube, in the reference writer's attribute order. */
export function defaultVolumeConfig(input: VolumePlanInput): VolumeConfig[] {
  return (DEFAULT_VOLUMES[input.klass] ?? []).map((d) => {
    const origin = d.sourceFromTemplate
      ? input.templateVolumes?.find((v) => volumeAttr(v, 'name') === d.sourceFromTemplate)
      : undefined;
    const pool = input.poolFor(d.name, origin ? volumeAttr(origin, 'pool') : undefined);
    const vid = d.name === 'kernel' ? input.kernel || 'None' : vidFor(pool, input.klass, input.vmName, d.name);
    const v: VolumeConfig = [
      ['name', d.name],
      ['pool', pool.name],
      ['vid', vid],
      ['revisions_to_keep', String(d.revisionsToKeep ?? pool.revisionsToKeep ?? 1)],
      ['rw', d.rw ? 'True' : 'False'],
      ['save_on_stop', d.saveOnStop ? 'True' : 'False'],
      ['snap_on_start', d.snapOnStart ? 'True' : 'False'],
    ];
    const size = origin ? Number(volumeAttr(origin, 'size') ?? d.size) : d.size;
    if (size) v.push(['size', String(size)]);
    // the template's volume may itself be a snapshot (a disposable's template is an AppVM):
    // follow it to the volume that holds the data, as the reference walks the template chain
    if (origin) v.push(['source', volumeAttr(origin, 'source') ?? volumeAttr(origin, 'vid') ?? '']);
    return v;
  });
}
