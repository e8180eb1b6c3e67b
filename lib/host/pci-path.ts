// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * PCI ports as the reference names them since R4.3: a *path* from a root
 * bus through each bridge (`00_14.0`, `c0_03.5-00_00.0-00_00.0`), so the
 * name survives bus renumbering. BDF (`SSSS:BB:DD.F`) ↔ path, from sysfs.
 *
 * Reference: qubes-core-admin: qubes/utils.py sbdf_to_path, path_to_sbdf,
 * is_pci_path; shared/spec/firewall-and-devices.md B3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readAttr } from './sysfs.js';

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** Accepts `SSSS:BB:DD.F`, `BB:DD.F`, `pci_SSSS_BB_DD_F` (`_` and `:` interchangeable). */
export function parseSbdf(input: string): string | null {
  const s = input.replace(/^pci_/, '').replace(/_/g, ':');
  let m = /^(?:([0-9a-f]{4,}):)?([0-9a-f]{2}):([0-9a-f]{2})[.:]([0-7])$/i.exec(s);
  if (!m) return null;
  return `${(m[1] ?? '0000').toLowerCase()}:${(m[2] as string).toLowerCase()}:${(m[3] as string).toLowerCase()}.${m[4]}`;
}

const devicesDir = (sys: string) => path.join(sys, 'bus', 'pci', 'devices');
const isRootBus = (sys: string, segment: string, bus: string) => fs.existsSync(path.join(sys, 'devices', `pci${segment}:${bus}`));

/** Bridges' secondary bus numbers are decimal in sysfs (spec B3 step 3). */
function secondaryBus(sys: string, sbdf: string): number | undefined {
  const v = readAttr(path.join(devicesDir(sys), sbdf, 'secondary_bus_number'));
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/** BDF → path, or null when there is no such device. */
export function sbdfToPath(sys: string, input: string): string | null {
  const sbdf = parseSbdf(input);
  if (!sbdf) return null;
  const link = path.join(devicesDir(sys), sbdf);
  if (!fs.existsSync(link)) return null;
  const [segment, bus, devfn] = sbdf.split(':') as [string, string, string];
  const prefix = segment === '0000' ? '' : `${segment}_`;
  if (isRootBus(sys, segment, bus)) return `${prefix}${bus}_${devfn}`;
  let target: string;
  try {
    target = fs.readlinkSync(link);
  } catch {
    return null;
  }
  const parts = target.split('/');
  const rootAt = parts.findIndex((p) => /^pci[0-9a-f]{4,}:[0-9a-f]{2}$/.test(p));
  if (rootAt < 0) return null;
  const comps = parts.slice(rootAt + 1).filter((p) => p !== '');
  let offset = 0;
  const out: string[] = [];
  for (const c of comps) {
    const m = /^[0-9a-f]{4,}:([0-9a-f]{2}):([0-9a-f]{2}\.[0-7])$/.exec(c);
    if (!m) return null;
    out.push(`${hex2(parseInt(m[1] as string, 16) - offset)}_${m[2]}`);
    const sec = secondaryBus(sys, c);
    offset = sec ?? 0;
  }
  return prefix + out.join('-');
}

const PATH_RE = /^(?:([0-9a-f]{4})_)?([0-9a-f]{2}_[0-9a-f]{2}\.[0-7](?:-[0-9a-f]{2}_[0-9a-f]{2}\.[0-7])*)$/;

/** Path → BDF, walking the bridges' secondary bus numbers; null when a step is missing. */
export function pathToSbdf(sys: string, p: string): string | null {
  const m = PATH_RE.exec(p);
  if (!m) return null;
  const segment = m[1] ?? '0000';
  let offset = 0;
  let sbdf: string | null = null;
  for (const comp of (m[2] as string).split('-')) {
    const [b, devfn] = comp.split('_') as [string, string];
    const bus = parseInt(b, 16) + offset;
    if (bus > 0xff) return null;
    sbdf = `${segment}:${hex2(bus)}:${devfn}`;
    if (!fs.existsSync(path.join(devicesDir(sys), sbdf))) return null;
    offset = secondaryBus(sys, sbdf) ?? 0;
  }
  return sbdf;
}

/** Is this a path (its first component on a root bus)? It need not name an existing device. */
export function isPciPath(sys: string, p: string): boolean {
  const m = PATH_RE.exec(p);
  if (!m) return false;
  return isRootBus(sys, m[1] ?? '0000', (m[2] as string).slice(0, 2));
}
