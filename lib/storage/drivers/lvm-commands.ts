// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the `lvm_thin` driver says to LVM and reads back, without running
 * anything: the argv of each operation (`lvmArgv`, the one place that
 * spells their options), the `lvs` JSON report parsed into figures, lvm's
 * stderr without its over-provisioning notices, device-mapper names. The
 * pool (lvm-thin.ts) runs the commands.
 *
 * Reference: qubes-core-admin: qubes/storage/lvm.py; spec storage.md §3.3.
 */
import { StoragePoolError } from '../../errors.js';
import { asRoot } from '../command-runner.js';

/** One LV as the `lvs` report describes it (sizes and usage in bytes). */
export interface LvInfo {
  size: number;
  /** Allocated bytes: size × data_percent, 0 when lvs gives no percentage (inactive LVs). */
  usage: number;
  poolLv: string;
  attr: string;
  /** Name (without VG) of the LV this is a snapshot of, or ''. */
  origin: string;
  metadataSize?: number;
  metadataUsage?: number;
}

/** `"<vg>/<lv>"` → its figures, in report order. */
export type LvsReport = Map<string, LvInfo>;

/** LVM prints this for every thin LV beyond the pool's size; over-provisioning is intended (qubes-issues#3744). */
const OVERPROVISIONING_NOTICE = 'exceeds the size of thin pool';

/** lvm output is parsed and quoted in errors, so it must not be translated. */
export const LVM_ENV = { LC_ALL: 'C.UTF-8' };

/** The LVM operations of the driver; `lvmArgv` is the one place that spells their options. */
export type LvmAction =
  | { op: 'report' }
  | { op: 'create'; pool: string; name: string; size: number }
  | { op: 'clone'; src: string; dst: string }
  | { op: 'remove'; lv: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'resize'; lv: string; size: number }
  | { op: 'activate'; lv: string };

export type LvmChange = Exclude<LvmAction, { op: 'report' }>;

/**
 * The argv of an LVM operation, with sudo when not root.
 * @throws StoragePoolError for a removal that does not name one LV (`VG/LV`)
 */
export function lvmArgv(a: LvmAction): string[] {
  const args = ((): string[] => {
    switch (a.op) {
      case 'report':
        return ['lvs', '--quiet', '--quiet', '--noheadings', '-o',
          'vg_name,pool_lv,name,lv_size,data_percent,lv_attr,origin,lv_metadata_size,metadata_percent',
          '--units', 'b', '--reportformat=json'];
      case 'create':
        return ['lvcreate', '--thin', '--setactivationskip=n', '--activate=y', `--name=${a.name}`, `--virtualsize=${a.size}B`, '--', a.pool];
      case 'clone':
        return ['lvcreate', '--setactivationskip=n', '--activate=y', '--snapshot', '--type=thin', `--name=${a.dst}`, '--', a.src];
      case 'remove':
        if (a.lv.startsWith('/') || !a.lv.includes('/')) throw new StoragePoolError(`Refusing to remove '${a.lv}': not a VG/LV name`);
        return ['lvremove', '--force', '--', a.lv];
      case 'rename':
        return ['lvrename', '--', a.from, a.to];
      case 'resize':
        return ['lvresize', `--size=${a.size}B`, '--', a.lv];
      case 'activate':
        return ['lvchange', '--activate=y', '--', a.lv];
    }
  })();
  return asRoot(['lvm', ...args]);
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** `"2147483648B"` → 2147483648 (`--units b`); undefined if not that shape. */
function bytes(s: string): number | undefined {
  const m = /^(\d+)B?$/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** The reference's `int(size / 100 * float(percent))`; an absent percentage counts as 0. */
const share = (size: number, percent: string): number => (percent === '' ? 0 : Math.trunc((size / 100) * Number.parseFloat(percent)) || 0);

/**
 * Parse the output of `lvm lvs ... --reportformat=json` (rows of
 * `report[0].lv`); rows without VG, name or size are skipped.
 * @throws StoragePoolError when the text is not such a report
 */
export function parseLvsReport(json: string): LvsReport {
  let rows: unknown;
  try {
    rows = (JSON.parse(json) as { report?: { lv?: unknown }[] })?.report?.[0]?.lv;
  } catch (e) {
    throw new StoragePoolError(`Cannot read the lvs report: ${(e as Error).message}`);
  }
  if (!Array.isArray(rows)) throw new StoragePoolError('Cannot read the lvs report: no report[0].lv list');
  const out: LvsReport = new Map();
  for (const row of rows as Record<string, unknown>[]) {
    const vg = text(row.vg_name);
    const name = text(row.lv_name);
    const size = bytes(text(row.lv_size));
    if (!vg || !name || size === undefined) continue;
    const metadataSize = bytes(text(row.lv_metadata_size));
    out.set(`${vg}/${name}`, {
      size,
      usage: share(size, text(row.data_percent)),
      poolLv: text(row.pool_lv),
      attr: text(row.lv_attr),
      origin: text(row.origin),
      ...(metadataSize === undefined ? {} : { metadataSize, metadataUsage: share(metadataSize, text(row.metadata_percent)) }),
    });
  }
  return out;
}

/** lvm's stderr without the over-provisioning notices. */
export function meaningfulStderr(stderr: string): string {
  const lines = stderr.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines.filter((l) => !l.includes(OVERPROVISIONING_NOTICE)).join('\n');
}

/** The device-mapper name of an LV: `-` doubled inside VG and LV, `/` → `-`. */
export const mapperName = (lv: string): string => lv.split('/').map((part) => part.replaceAll('-', '--')).join('-');
