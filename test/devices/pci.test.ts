// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * PCI devices: the path naming of the reference (spec B3) on the sample
 * sysfs tree, the listing of `qvm-pci` on that tree (names from a pci.ids
 * fixture, spec B9's verbatim lines), and on this machine's own
 * /sys/bus/pci/devices.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { hostFacts } from '../../lib/host/load-facts.js';
import { isPciPath, pathToSbdf, sbdfToPath } from '../../lib/host/pci-path.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { domainXml, run, tmpStore, type TmpStore } from '../helpers.js';
import { testLacking } from '../needs.js';
import { makeSysfs, type SysfsFixture } from './sysfs-fixture.js';

let fx: SysfsFixture;
let store: TmpStore;
beforeAll(() => {
  fx = makeSysfs();
  store = tmpStore('qubes-xml/q10.xml');
});
afterAll(() => {
  fs.rmSync(fx.root, { recursive: true, force: true });
  fs.rmSync(store.dir, { recursive: true, force: true });
});

describe('PCI paths on the spec fixture', () => {
  test.each([
    ['0000:c6:00.0', 'c0_03.5-00_00.0-00_00.0'],
    ['0000:00:18.4', '00_18.4'],
    ['00:18.4', '00_18.4'],
    ['pci_0000_00_18_4', '00_18.4'],
    ['0000:02:00.0', '00_08.1-00_00.0'],
    ['0000:c5:00.0', 'c0_03.5-00_00.0'],
  ])('sbdfToPath(%s) = %s', (sbdf, p) => {
    expect(sbdfToPath(fx.sys, sbdf)).toBe(p);
  });

  test('a BDF that does not exist has no path', () => {
    expect(sbdfToPath(fx.sys, '0000:00:1f.0')).toBeNull();
  });

  test('paths back to BDF, a missing bridge gives none', () => {
    expect(pathToSbdf(fx.sys, '0000_c0_03.5-00_00.0-00_00.0')).toBe('0000:c6:00.0');
    expect(pathToSbdf(fx.sys, 'c0_03.5-00_00.0-00_00.0')).toBe('0000:c6:00.0');
    expect(pathToSbdf(fx.sys, '0000_c0_03.7-00_00.0-00_00.0')).toBeNull();
    expect(pathToSbdf(fx.sys, '00_08.1-00_00.0')).toBe('0000:02:00.0');
  });

  test('isPciPath: first component on a root bus', () => {
    expect(isPciPath(fx.sys, '0000_00_18.4')).toBe(true);
    expect(isPciPath(fx.sys, '0000_c6_00.0')).toBe(false);
    expect(isPciPath(fx.sys, '0000_c0_00.0')).toBe(true);
  });
});

describe('qvm-pci on the sample tree', () => {
  const env = () => ({ ...store.env, ...fx.env });

  test('list --with-sbdf gives the reference listing lines, names from pci.ids', () => {
    const r = run('qvm-pci', ['list', '--with-sbdf'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const col = (l: string) => l.replace(/ +/g, ' ').trimEnd();
    expect(lines.map(col)).toContain('dom0:00_14.0 0000:00:14.0 PCI_USB: v p1');
    expect(lines.map(col)).toContain('dom0:00_1d.0-00_00.0 0000:aa:00.0 Network: v p2');
    expect(lines.map(col)).toContain('dom0:c0_03.5-00_00.0-00_00.0 0000:c6:00.0 Network: v p2');
    expect(lines.map(col)).toContain('dom0:00_08.1-00_00.0 0000:02:00.0 Network: v p2');
    expect(lines.map(col)).toContain('dom0:00_18.4 0000:00:18.4 PCI_Bridge: Advanced Micro Devices, Inc. [AMD] Starship/Matisse GPP Bridge');
    // column -t layout: padded columns, two spaces, empty USED BY still separated
    expect(lines).toContain(`dom0:00_14.0${' '.repeat(18)}0000:00:14.0  PCI_USB: v p1${' '.repeat(61)}  `);
    expect(lines.filter((l) => l !== '').every((l) => l.endsWith('  '))).toBe(true);
    expect(lines.filter((l) => l !== '')).toHaveLength(9);
  });

  test('info shows description, device id and sbdf', () => {
    const r = run('qvm-pci', ['info', 'dom0:00_1d.0-00_00.0'], env());
    expect(r.stdout).toBe('Network: v p2\ndevice ID: 0x8086:0x2723::p028000\nsbdf: 0000:aa:00.0\n');
  });

  test('without a pci.ids names are the numbers', () => {
    const r = run('qvm-pci', ['info', 'dom0:00_14.0'], { ...env(), QUBES_HWDATA_DIR: fx.root });
    expect(r.stdout).toBe('PCI_USB: 0x8086 0xa0ed\ndevice ID: 0x8086:0xa0ed::p0c0330\nsbdf: 0000:00:14.0\n');
  });

  test('a PCI path behind a missing bridge is not exposed', () => {
    const r = run('qvm-pci', ['info', 'dom0:c0_03.7-00_00.0'], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("qvm-pci: error: backend vm dom0 doesn't expose pci device 'c0_03.7-00_00.0'\n");
  });
});

describe('an older PCI port in a store (BDF behind a bridge) at load', () => {
  // vm0001 assigned the device the fixture has at 0000:c6:00.0, by its pre-R4.3 port
  const withOldPort = (xml: string) =>
    xml.replace(
      /(<property name="name">vm0001<\/property>[\s\S]*?<\/tags>\n)/,
      '$1      <devices class="pci">\n        <device backend-domain="dom0" id="c6_00.0" mode="required" identity="*"/>\n      </devices>\n',
    );
  const portOf = (app: ReturnType<typeof loadQubesXml>) => app.domains.get('vm0001')?.devices[0]?.assignments[0]?.port;

  test("becomes its path from the machine's facts passed in", () => {
    const app = loadQubesXml(withOldPort(store.read()), 'q.xml', new OfflineVmm(), store.dir, [], { host: hostFacts({ sys: fx.sys }) });
    expect(portOf(app)).toBe('c0_03.5-00_00.0-00_00.0');
  });

  test('loading reads nothing of the host itself: without the facts the port is kept', () => {
    const saved = process.env.QUBES_SYSFS_ROOT;
    process.env.QUBES_SYSFS_ROOT = fx.sys;
    try {
      const app = loadQubesXml(withOldPort(store.read()), 'q.xml', new OfflineVmm(), store.dir, []);
      expect(portOf(app)).toBe('c6_00.0');
    } finally {
      if (saved === undefined) delete process.env.QUBES_SYSFS_ROOT;
      else process.env.QUBES_SYSFS_ROOT = saved;
    }
  });

  test("a command migrates it from this machine's sysfs and saves the path", () => {
    const s = tmpStore('qubes-xml/q10.xml');
    try {
      fs.writeFileSync(s.xml, withOldPort(s.read()));
      const r = run('qvm-tags', ['vm0001', 'add', 'moved'], { ...s.env, ...fx.env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(domainXml(s.read(), 'vm0001')).toContain('<device backend-domain="dom0" id="c0_03.5-00_00.0-00_00.0" mode="required" identity="*"/>');
    } finally {
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe("qvm-pci on this machine's /sys/bus/pci/devices", () => {
  const devices = fs.existsSync('/sys/bus/pci/devices') ? fs.readdirSync('/sys/bus/pci/devices').sort() : [];

  testLacking({ machine: devices.length ? [] : ['PCI devices in /sys/bus/pci/devices'] }, 'one line per PCI device, with its SBDF, vendor and device ids', () => {
    const r = run('qvm-pci', ['list', '--with-sbdf'], { ...store.env, QUBES_HWDATA_DIR: fx.root });
    expect(r.code).toBe(0);
    const rows = r.stdout.trimEnd().split('\n').map((l) => l.split(/ {2,}/));
    expect(rows.map((c) => c[1]).sort()).toEqual(devices);
    for (const sbdf of devices) {
      const row = rows.find((c) => c[1] === sbdf) as string[];
      const read = (f: string) => fs.readFileSync(path.join('/sys/bus/pci/devices', sbdf, f), 'utf8').trim();
      expect(row[2]).toContain(`${read('vendor')} ${read('device')}`);
      const info = run('qvm-pci', ['info', row[0] as string], { ...store.env, QUBES_HWDATA_DIR: fx.root });
      expect(info.stdout).toContain(`device ID: ${read('vendor')}:${read('device')}::p${read('class').slice(2)}\n`);
      expect(info.stdout).toContain(`sbdf: ${sbdf}\n`);
    }
  });
});
