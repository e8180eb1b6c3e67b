// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The device model as pure logic: interface categories, descriptions (the
 * reference client's test outputs, spec B2), block identities and QubesDB
 * parsing (B3, B7), USB entries, the PCI hostdev attributes with the
 * strict-reset option and feature, and the older qubes.xml shapes (B4).
 */
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { serializeQubes } from '../../lib/app/qubes-xml-write.js';
import { blockDevicesFromQdb } from '../../lib/devices/block.js';
import { category, describe as describeDevice, interfaceText } from '../../lib/devices/description.js';
import { HwData } from '../../lib/devices/hwdata.js';
import { UNKNOWN_DEVICE_ID, type DeviceInfo } from '../../lib/devices/model.js';
import { pciHostdev } from '../../lib/vmm/domain-xml/pci-hostdev.js';
import { usbDevicesFromQdb } from '../../lib/devices/usb.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import fs from 'node:fs';
import { vector } from '../helpers.js';
import { HWDATA } from './sysfs-fixture.js';

const hw = new HwData({ QUBES_HWDATA_DIR: HWDATA });
const none = new HwData({ QUBES_HWDATA_DIR: '/nonexistent' });
const dev = (d: Partial<DeviceInfo>): DeviceInfo => ({ backend: 'test-vm1', portId: 'dev1', devclass: 'testclass', deviceId: '*', interfaces: [], data: [], ...d });

describe('interfaces and descriptions', () => {
  test.each([
    ['p0c0330', 'PCI_USB'],
    ['p020000', 'Network'],
    ['p030000', 'Display'],
    ['p060400', 'PCI_Bridge'],
    ['u080650', 'USB_Storage'],
    ['b******', 'Block_Storage'],
    ['m******', 'Microphone'],
    ['u012345', 'Audio'],
    ['?******', 'Other'],
    ['pffff00', 'Other'],
  ])('category(%s) = %s', (i, c) => expect(category(i)).toBe(c));

  test('interface text from the ids class section, with its fallbacks', () => {
    expect(interfaceText('p0c0330', hw)).toBe('USB controller');
    expect(interfaceText('pff0000', hw)).toBe('Unassigned class');
    expect(interfaceText('pff0000', none)).toBe('PCI device');
    expect(interfaceText('b******', none)).toBe('Block Device');
    expect(interfaceText('?******', none)).toBe('?******');
  });

  test("the reference client's test outputs", () => {
    expect(describeDevice(dev({ vendor: 'itl', product: 'test-device', interfaces: ['u012345'] }), none)).toBe('Audio: itl test-device');
    expect(describeDevice(dev({ vendor: '?', product: '` test-device' }), none)).toBe('?******: ? ` test-device');
    expect(describeDevice(dev({ devclass: 'pci', vendor: 'v', product: 'p1', interfaces: ['p0c0330'] }), none)).toBe('PCI_USB: v p1');
    expect(describeDevice(dev({ devclass: 'pci', vendor: 'v', product: 'p2', interfaces: ['p028000'] }), none)).toBe('Network: v p2');
  });

  test('fallbacks: name, serial, parent, unknown', () => {
    expect(describeDevice(dev({ name: 'n', serial: 's' }), none)).toBe('?******: unknown vendor n');
    expect(describeDevice(dev({ serial: 's', manufacturer: 'm' }), none)).toBe('?******: m s');
    expect(describeDevice(dev({ devclass: 'pci', interfaces: ['pff0000'] }), none)).toBe('PCI device: unknown vendor unknown pci device');
    // nothing known but the parent: the parent alone, without category or vendor (reference client)
    expect(describeDevice(dev({ parent: { backend: 'sys-usb', portId: 'sda', devclass: 'block' } }), none)).toBe('sub-device of sys-usb:sda');
    expect(describeDevice(dev({ parent: { backend: 'sys-usb', portId: 'sda', devclass: 'block' }, manufacturer: 'sub-device of sys-usb:sda' }), none)).toBe(
      'sub-device of sys-usb:sda',
    );
  });
});

describe('block devices from QubesDB entries', () => {
  const entries = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [`/qubes-block-devices/${k}`, v]));
  const usbUnknown = () => UNKNOWN_DEVICE_ID;

  test('desc is model and label; identities from the parent and trailing digits', () => {
    const warnings: string[] = [];
    const list = blockDevicesFromQdb(
      'sys-usb',
      entries({
        'sda/desc': 'Test_ (device)',
        'sda/size': '1024',
        'sda/mode': 'r',
        'sda/parent': '1-1.1:1.0',
        'sda1/desc': 'MYUSB ()',
        'sda1/size': 'x',
        'sda1/mode': 'q',
        'sda1/parent': 'sda',
        'loop0p1/desc': '/home/user/disk.img',
        'nvme0n1/desc': ' ()',
        'mapper_dmroot/desc': 'dmroot',
      }),
      (m) => warnings.push(m),
      usbUnknown,
    );
    const by = new Map(list.map((d) => [d.portId, d]));
    expect([...by.keys()]).toEqual(['loop0p1', 'nvme0n1', 'sda', 'sda1']);
    expect(by.get('sda')).toMatchObject({ serial: 'Test', name: 'device', deviceId: '0000:0000::?******:1.0', data: [['size', '1024'], ['mode', 'r']] });
    expect(by.get('sda1')).toMatchObject({ deviceId: '0000:0000::?******:1.0:1', manufacturer: 'sub-device of sys-usb:sda', data: [['size', '0'], ['mode', 'w']] });
    expect(by.get('loop0p1')?.deviceId).toBe(':1');
    expect(by.get('nvme0n1')?.deviceId).toBe(':1');
    expect(describeDevice(by.get('sda1') as DeviceInfo, none)).toBe('Block_Storage: sub-device of sys-usb:sda MYUSB');
    expect(describeDevice(by.get('loop0p1') as DeviceInfo, none)).toBe('Block_Storage: hosted by sys-usb /home/user/disk.img');
    expect(warnings).toEqual([
      "sys-usb vm's device path name contains unsafe characters. Skipping it.",
      'Device sda1 has invalid size',
      'Device sda1 has invalid mode',
    ]);
  });

  test('a disk without digits has the identity :None (quirk kept)', () => {
    expect(blockDevicesFromQdb('dom0', entries({ 'sdb/desc': 'X ()' }), () => {}, usbUnknown)[0]?.deviceId).toBe(':None');
  });
});

test('USB devices from QubesDB entries', () => {
  const e = new Map([
    ['/qubes-usb-devices/1-1_2/desc', '8086:0001 ACME\\x20Corp Stick 0123'],
    ['/qubes-usb-devices/1-1_2/usb-ver', '2'],
    ['/qubes-usb-devices/1-1_2/interfaces', ':080650:'],
    ['/qubes-usb-devices/bad.key/desc', 'x'],
  ]);
  const warnings: string[] = [];
  const [d] = usbDevicesFromQdb('sys-usb', e, none, (m) => warnings.push(m));
  expect(d).toMatchObject({ portId: '1-1.2', deviceId: '0x8086:0x0001:0123:u080650', vendor: 'ACME Corp', product: 'Stick', interfaces: ['u080650'] });
  expect(describeDevice(d as DeviceInfo, none)).toBe('USB_Storage: ACME Corp Stick');
  expect(warnings).toHaveLength(1);
});

describe('stored assignments', () => {
  const store = (devices: string) =>
    fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8').replace(
      /(<property name="name">vm0001<\/property>[\s\S]*?<\/tags>\n)/,
      `$1      <devices class="pci">\n${devices}      </devices>\n`,
    );

  test('R4.0–4.2 and legacy shapes load as the reference loads them and save in the current shape', () => {
    const xml = store(
      '        <device backend-domain="dom0" id="00_14.0">\n          <option name="no-strict-reset">True</option>\n        </device>\n' +
        '        <device backend-domain="dom0" id="00_15.0" required="no" mode="required"/>\n' +
        '        <device backend-domain="dom0" id="00_16.0" identity="a">\n          <option name="identity">b</option>\n        </device>\n' +
        '        <device backend-domain="dom0" id="00_17.0" mode="sometimes"/>\n' +
        '        <device backend-domain="sys-gone" id="00_18.0"/>\n',
    );
    const warnings: string[] = [];
    const app = loadQubesXml(xml, 'q.xml', new OfflineVmm(), '/tmp', warnings);
    expect(app.domains.get('vm0001')?.devices[0]?.assignments).toEqual([
      { backend: 'dom0', port: '00_14.0', mode: 'required', identity: '*', options: [['no-strict-reset', 'True']] },
      { backend: 'dom0', port: '00_15.0', mode: 'auto-attach', identity: '*', options: [] },
      { backend: 'dom0', port: '00_16.0', mode: 'required', identity: 'b', options: [] },
    ]);
    expect(warnings).toEqual([
      "vm0001: pci device '00_17.0': Unrecognized assignment mode 'sometimes', ignoring.",
      "vm0001: Cannot find backend domain 'sys-gone' for device type pci '00_18.0'",
    ]);
    expect(serializeQubes(app)).toContain(
      '        <device backend-domain="dom0" id="00_14.0" mode="required" identity="*">\n          <option name="no-strict-reset">True</option>\n        </device>\n' +
        '        <device backend-domain="dom0" id="00_15.0" mode="auto-attach" identity="*"/>\n',
    );
  });

  test('strict reset for the VMM: the option judged as a string, or the per-qube feature', () => {
    const app = loadQubesXml(store(''), 'q.xml', new OfflineVmm(), '/tmp', []);
    const vm = app.domains.get('vm0001');
    if (!vm) throw new Error('no vm0001');
    const a = (options: [string, string][]) => ({ backend: 'dom0', port: '00_1b.0', mode: 'required' as const, identity: '*', options });
    expect(pciHostdev(vm, a([]), '0000:00:1b.0', app.adminVm).noStrictReset).toBe(false);
    expect(pciHostdev(vm, a([['no-strict-reset', 'False']]), '0000:00:1b.0', app.adminVm).noStrictReset).toBe(true);
    // as an older store holds it (qvm-features refuses ':' and '/' in names)
    vm.features.map.set('pci-no-strict-reset/00:1b.0', '1');
    expect(pciHostdev(vm, a([]), '0000:00:1b.0', app.adminVm)).toEqual({
      domain: '0x0000',
      bus: '0x00',
      slot: '0x1b',
      function: '0x0',
      noStrictReset: true,
      permissive: false,
      noPowerManagementFiltering: false,
    });
  });
});
