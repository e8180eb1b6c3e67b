// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A volume as the storage drivers see it: one `<volume/>` of a qube's
 * volume-config, read through its pool. Immutable; a changed setting is a
 * new Volume (and a store update by the caller).
 *
 *   snap_on_start  save_on_stop   class
 *   no             no             volatile (volatile, kernel): fresh each start
 *   no             yes            origin (private; root of templates)
 *   yes            no             snapshot of `source` (root of AppVMs)
 *   yes            yes            unsupported
 *
 * Reference: qubes-core-admin: qubes/storage/__init__.py class Volume;
 * shared/spec/storage.md §1.2.
 */
import { QubesValueError, StoragePoolError } from '../errors.js';
import { volumeAttr, type VolumeConfig } from '../vm/volume-config.js';

export interface VolumeOwner {
  name: string;
  klass: string;
}

export interface VolumeSettings {
  name: string;
  pool: string;
  vid: string;
  rw: boolean;
  snapOnStart: boolean;
  saveOnStop: boolean;
  /** The source's vid (same pool), for snapshot volumes. */
  source?: string;
  /** Old committed states kept; -1 = snapshots disabled. */
  revisionsToKeep: number;
  /** Nominal size in bytes (drivers report the real size of the backing object). */
  size: number;
  /** Explicit setting; undefined = derived (see Volume.ephemeral). */
  ephemeral?: boolean;
}

/** qubes.xml booleans: "True"/"False" (the reference also reads 1/0/on/off/yes/no). */
export function parseQubesBool(value: string | boolean | undefined, what: string): boolean {
  if (typeof value === 'boolean') return value;
  const v = (value ?? '').trim().toLowerCase();
  if (['true', '1', 'on', 'yes'].includes(v)) return true;
  if (['false', '0', 'off', 'no', ''].includes(v)) return false;
  throw new QubesValueError(`Invalid value for ${what}: '${value}' (expected True or False)`);
}

/**
 * The settings of a `<volume/>`; a missing revisions_to_keep takes
 * `poolRevisions` (the pool's default, as the reference's drivers fill it).
 */
export function settingsFromConfig(cfg: VolumeConfig, poolRevisions = 0): VolumeSettings {
  const attr = (k: string) => volumeAttr(cfg, k);
  const name = attr('name') ?? '';
  const num = (k: string, dflt: number) => {
    const raw = attr(k);
    if (raw === undefined || raw === '' || raw === 'None') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new QubesValueError(`Invalid ${k} '${raw}' of volume ${name}`);
    return n;
  };
  const ephemeral = attr('ephemeral');
  return {
    name,
    pool: attr('pool') ?? '',
    vid: attr('vid') ?? '',
    rw: parseQubesBool(attr('rw'), `rw of volume ${name}`),
    snapOnStart: parseQubesBool(attr('snap_on_start'), `snap_on_start of volume ${name}`),
    saveOnStop: parseQubesBool(attr('save_on_stop'), `save_on_stop of volume ${name}`),
    source: attr('source') || undefined,
    revisionsToKeep: num('revisions_to_keep', poolRevisions),
    size: num('size', 0),
    ephemeral: ephemeral === undefined ? undefined : parseQubesBool(ephemeral, `ephemeral of volume ${name}`),
  };
}

export class Volume implements VolumeSettings {
  readonly name: string;
  readonly pool: string;
  readonly vid: string;
  readonly rw: boolean;
  readonly snapOnStart: boolean;
  readonly saveOnStop: boolean;
  readonly source?: string;
  readonly revisionsToKeep: number;
  readonly size: number;
  private readonly explicitEphemeral?: boolean;

  /**
   * @param poolEphemeralVolatile the pool's ephemeral_volatile, the default of `ephemeral`
   * @throws StoragePoolError on snap_on_start without source or the reverse
   */
  constructor(
    s: VolumeSettings,
    readonly owner: VolumeOwner | undefined,
    private readonly poolEphemeralVolatile = false,
  ) {
    this.name = s.name;
    this.pool = s.pool;
    this.vid = s.vid;
    this.rw = s.rw;
    this.snapOnStart = s.snapOnStart;
    this.saveOnStop = s.saveOnStop;
    this.source = s.source;
    this.revisionsToKeep = s.revisionsToKeep;
    this.size = s.size;
    this.explicitEphemeral = s.ephemeral;
    if (this.snapOnStart && !this.source)
      throw new StoragePoolError(`snap_on_start specified on '${this.name}' but no volume source set`);
    if (this.source && !this.snapOnStart) throw new StoragePoolError(`source specified on '${this.name}' but no snap_on_start set`);
  }

  get isOrigin(): boolean {
    return this.saveOnStop && !this.snapOnStart;
  }
  get isSnapshot(): boolean {
    return this.snapOnStart && !this.saveOnStop;
  }
  get isVolatile(): boolean {
    return !this.snapOnStart && !this.saveOnStop;
  }

  /** Attached directly, no per-run copy (revisions_to_keep -1 on an origin; qubes-issues#8767). */
  get snapshotsDisabled(): boolean {
    return this.revisionsToKeep === -1 && this.isOrigin;
  }

  /** Encrypted with a throw-away key: explicit, else the pool's choice for plain writable volatile volumes. */
  get ephemeral(): boolean {
    if (this.explicitEphemeral !== undefined) return this.explicitEphemeral;
    if (this.snapOnStart || this.saveOnStop || !this.rw) return false;
    return this.poolEphemeralVolatile;
  }

  settings(): VolumeSettings {
    return {
      name: this.name,
      pool: this.pool,
      vid: this.vid,
      rw: this.rw,
      snapOnStart: this.snapOnStart,
      saveOnStop: this.saveOnStop,
      source: this.source,
      revisionsToKeep: this.revisionsToKeep,
      size: this.size,
      ephemeral: this.explicitEphemeral,
    };
  }

  toString(): string {
    return this.vid;
  }
}

/** Setting `ephemeral` on: only for a writable volume that is neither snapshot nor origin. */
export function checkEphemeral(v: Volume, value: boolean): void {
  if (value && (v.snapOnStart || v.saveOnStop || !v.rw))
    throw new QubesValueError('Cannot enable ephemeral on snap_on_start or save_on_stop or non-dom0 or not writable volume');
}

/** A revision of a volume: id and the ISO time (UTC, no zone) its state was committed or superseded. */
export interface Revision {
  id: string;
  timestamp: string;
}

/** `YYYY-MM-DDTHH:MM:SS` in UTC (the reference's isodate()). */
export const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 19);
