// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Sample sysfs trees for the device tests, built in a temporary directory
 * and handed to the commands through QUBES_SYSFS_ROOT (and QUBES_DEV_DIR,
 * QUBES_HWDATA_DIR). The PCI layout is the reference's fixture as the spec
 * describes it (B3), plus the devices of the client's listing test (B9).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HWDATA = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hwdata');

export interface PciFixtureDevice {
  /** Path below /sys/devices, e.g. `pci0000:c0/0000:c0:03.5/0000:c5:00.0`. */
  devpath: string;
  vendor: string;
  device: string;
  klass: string;
  /** Decimal, bridges only. */
  secondary?: number;
}

/** The spec's B3 fixture, and the B9 listing test's two devices. */
export const SPEC_PCI: PciFixtureDevice[] = [
  { devpath: 'pci0000:c0/0000:c0:03.5', vendor: '0x1022', device: '0x1483', klass: '0x060400', secondary: 197 },
  { devpath: 'pci0000:c0/0000:c0:03.5/0000:c5:00.0', vendor: '0x1022', device: '0x1483', klass: '0x060400', secondary: 198 },
  { devpath: 'pci0000:c0/0000:c0:03.5/0000:c5:00.0/0000:c6:00.0', vendor: '0x8086', device: '0x2723', klass: '0x028000' },
  { devpath: 'pci0000:00/0000:00:18.4', vendor: '0x1022', device: '0x1483', klass: '0x060000' },
  { devpath: 'pci0000:00/0000:00:08.1', vendor: '0x1022', device: '0x1483', klass: '0x060400', secondary: 2 },
  { devpath: 'pci0000:00/0000:00:08.1/0000:02:00.0', vendor: '0x8086', device: '0x2723', klass: '0x028000' },
  { devpath: 'pci0000:00/0000:00:14.0', vendor: '0x8086', device: '0xa0ed', klass: '0x0c0330' },
  { devpath: 'pci0000:00/0000:00:1d.0', vendor: '0x8086', device: '0x0d57', klass: '0x060400', secondary: 0xaa },
  { devpath: 'pci0000:00/0000:00:1d.0/0000:aa:00.0', vendor: '0x8086', device: '0x2723', klass: '0x028000' },
];

export interface SysfsFixture {
  root: string;
  sys: string;
  dev: string;
  env: NodeJS.ProcessEnv;
}

export function makeSysfs(pci: PciFixtureDevice[] = SPEC_PCI): SysfsFixture {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-sysfs-'));
  const sys = path.join(root, 'sys');
  const dev = path.join(root, 'dev');
  fs.mkdirSync(path.join(sys, 'bus', 'pci', 'devices'), { recursive: true });
  fs.mkdirSync(path.join(sys, 'block'), { recursive: true });
  fs.mkdirSync(dev, { recursive: true });
  for (const d of pci) {
    const dir = path.join(sys, 'devices', d.devpath);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'vendor'), `${d.vendor}\n`);
    fs.writeFileSync(path.join(dir, 'device'), `${d.device}\n`);
    fs.writeFileSync(path.join(dir, 'class'), `${d.klass}\n`);
    if (d.secondary !== undefined) fs.writeFileSync(path.join(dir, 'secondary_bus_number'), `${d.secondary}\n`);
    const sbdf = path.basename(d.devpath);
    fs.symlinkSync(`../../../devices/${d.devpath}`, path.join(sys, 'bus', 'pci', 'devices', sbdf));
  }
  return { root, sys, dev, env: { QUBES_SYSFS_ROOT: sys, QUBES_DEV_DIR: dev, QUBES_HWDATA_DIR: HWDATA, QUBES_UDEV_DATA: path.join(root, 'udev') } };
}

/** A block device in the sample tree: /sys/block/NAME with the given attributes and sub-directories. */
export function addBlock(fx: SysfsFixture, rel: string, attrs: Record<string, string>): void {
  const dir = path.join(fx.sys, 'block', rel);
  fs.mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(attrs)) {
    fs.mkdirSync(path.dirname(path.join(dir, k)), { recursive: true });
    fs.writeFileSync(path.join(dir, k), `${v}\n`);
  }
}
