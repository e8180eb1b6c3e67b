// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices through the daemon: Qubes' own qvm-device against our qubesd on
 * one copy of a store and our qvm-device on another (assign, list with
 * assignments, unassign: the same exit code, output and qubes.xml); the
 * Admin API listings and their serialization; the denied interfaces; and
 * the refusals under the reference's class names. dom0's devices come from
 * a fake sysfs with one PCI device.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStore, type TmpStore } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, comparableStore, referenceTool, shown, startDaemon, type Daemon } from './daemon-env.js';

const absent = clientMissing();
const VECTOR = 'qubes-xml/q10.xml';

/** A sysfs with one PCI network device at 0000:00:03.0. */
function fakeSysfs(dir: string): NodeJS.ProcessEnv {
  const sys = path.join(dir, 'sys');
  const dev = path.join(sys, 'devices/pci0000:00/0000:00:03.0');
  fs.mkdirSync(dev, { recursive: true });
  const attrs: [string, string][] = [
    ['vendor', '0x8086'],
    ['device', '0x100e'],
    ['class', '0x020000'],
    ['subsystem_vendor', '0x8086'],
    ['subsystem_device', '0x001e'],
  ];
  for (const [f, v] of attrs) fs.writeFileSync(path.join(dev, f), `${v}\n`);
  fs.mkdirSync(path.join(sys, 'bus/pci/devices'), { recursive: true });
  fs.symlinkSync(dev, path.join(sys, 'bus/pci/devices/0000:00:03.0'));
  fs.mkdirSync(path.join(dir, 'dev'), { recursive: true });
  return { QUBES_SYSFS_ROOT: sys, QUBES_DEV_ROOT: path.join(dir, 'dev') };
}

let d: Daemon;
let ours: TmpStore;

beforeEach(async () => {
  if (absent.length) return;
  const theirsStore = tmpStore(VECTOR);
  const env = fakeSysfs(theirsStore.dir);
  d = await startDaemon(VECTOR, { store: theirsStore, env });
  ours = tmpStore(VECTOR);
  ours.env = { ...ours.env, ...fakeSysfs(ours.dir) };
});

afterEach(async () => {
  if (absent.length) return;
  expect(await d.stop()).toBe(0);
  for (const s of [d.store, ours]) fs.rmSync(s.dir, { recursive: true, force: true });
});

const normalised = comparableStore;

function same(args: string[]) {
  const a = run('qvm-device', args, ours.env);
  const b = referenceTool(d, 'qvm-device', args);
  expect([b.code, b.stdout]).toEqual([a.code, a.stdout]);
  expect(normalised(d.store)).toBe(normalised(ours));
  return { ours: a, theirs: b };
}

describe('qvm-device through the daemon', () => {
  testWithout(absent, 'assign (required, ask-to-attach), list with assignments, unassign: as ours', () => {
    same(['pci', 'assign', '--required', 'vm0001', 'dom0:00_03.0']);
    same(['block', 'assign', 'vm0002', 'dom0:sdz:*']);
    same(['block', 'assign', '--ask', 'vm0003', 'sys-net:xvdi']);
    expect(d.store.read()).toContain('<device backend-domain="dom0" id="00_03.0" mode="required" identity="0x8086:0x100e::p020000"/>');
    same(['block', 'list', '-s', 'vm0002']);
    same(['block', 'unassign', 'vm0002', 'dom0:sdz:*']);
    same(['pci', 'unassign', 'vm0001', 'dom0:00_03.0']);
  });

  testWithout(absent, 'refused as ours: assigning twice, unassigning what is not assigned', () => {
    same(['block', 'assign', 'vm0002', 'dom0:sdz:*']);
    expect(same(['block', 'assign', 'vm0002', 'dom0:sdz:*']).theirs.code).not.toBe(0);
    expect(same(['block', 'unassign', 'vm0003', 'dom0:sdz:*']).theirs.code).not.toBe(0);
  });
});

describe('the Admin API device methods', () => {
  testWithout(absent, 'Available, Assigned, Set.assignment, Unassign over raw requests', async () => {
    const avail = shown(await d.call('admin.vm.device.pci.Available', 'dom0'));
    expect(shown(await d.call('admin.vm.device.pci.Available', 'dom0', '00_03.0'))).toBe(avail);
    expect(avail).toMatch(/^0\\000_03\.0:0x8086:0x100e::p020000 device_id='0x8086:0x100e::p020000' port_id='00_03\.0' devclass='pci' backend_domain='dom0' .*interfaces='p020000'/);
    expect(shown(await d.call('admin.vm.device.pci.Available', 'dom0', 'nosuch'))).toBe('0\\0');
    const payload = "device_id='0x8086:0x100e::p020000' port_id='00_03.0' devclass='pci' backend_domain='dom0' mode='required' frontend_domain='vm0001' _no-strict-reset='True'";
    expect(shown(await d.call('admin.vm.device.pci.Assign', 'vm0001', 'dom0+00_03.0:0x8086:0x100e::p020000', payload))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.pci.Assigned', 'vm0001'))).toBe(
      `0\\0dom0+00_03.0:0x8086:0x100e::p020000 ${payload}\n`,
    );
    expect(shown(await d.call('admin.vm.device.pci.Assigned', 'vm0001', 'dom0+00_03.0'))).toBe(`0\\0dom0+00_03.0:0x8086:0x100e::p020000 ${payload}\n`);
    expect(shown(await d.call('admin.vm.device.pci.Assigned', 'vm0001', 'dom0+00_04.0'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.block.Assign', 'vm0001', 'dom0+sdz:*', "mode='ask-to-attach' _read-only='yes'"))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.block.Set.assignment', 'vm0001', 'dom0+sdz:*', 'auto-attach'))).toBe('0\\0');
    expect(d.store.read()).toMatch(/<device backend-domain="dom0" id="sdz" mode="auto-attach" identity="\*">\s*<option name="read-only">yes<\/option>/);
    expect(shown(await d.call('admin.vm.device.block.Unassign', 'vm0001', 'dom0+sdz:*'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.block.Assigned', 'vm0001'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.pci.Attached', 'vm0001'))).toBe('0\\0');
  });

  testWithout(absent, 'denied interfaces: Add, List, Remove, Remove all', async () => {
    expect(shown(await d.call('admin.vm.device.denied.Add', 'vm0001', '', 'u03****b******'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.denied.Add', 'vm0001', '', 'u03****'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.denied.List', 'vm0001'))).toBe('0\\0u03****\nb******');
    expect(d.store.read()).toContain('<property name="devices_denied">u03****b******</property>');
    expect(shown(await d.call('admin.vm.device.denied.Remove', 'vm0001', '', 'b******'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.denied.List', 'vm0001'))).toBe('0\\0u03****');
    expect(shown(await d.call('admin.vm.device.denied.Remove', 'vm0001', '', 'all'))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.device.denied.List', 'vm0001'))).toBe('0\\0');
  });

  testWithout(absent, 'refusals under the reference names; nothing written', async () => {
    const before = d.store.read();
    const cases: [string, string, string, string, string][] = [
      ['admin.vm.device.block.Assign', 'vm0001', 'dom0+sdz:*', "mode='manual'", '2\\0QubesValueError\\0\\0Only auto-attachable devices can be assigned.\\0'],
      ['admin.vm.device.block.Assign', 'vm0001', 'dom0+sdz:*', "mode='sometimes'", "2\\0ProtocolError\\0\\0'sometimes' is not a valid AssignmentMode\\0"],
      ['admin.vm.device.block.Assign', 'vm0001', 'dom0+sdz:*', "backend_domain='sys-net' mode='required'", '2\\0ProtocolError\\0\\0Got device exposed by sys-net when expected dom0.\\0'],
      ['admin.vm.device.block.Assign', 'vm0001', 'nosuch+sdz:*', "mode='required'", "2\\0QubesVMNotFoundError\\0\\0No such domain: 'nosuch'\\0"],
      ['admin.vm.device.usb.Assign', 'vm0001', 'dom0+1-1:*', "mode='required'", '2\\0QubesValueError\\0\\0Only pci and block devices can be assigned as required.\\0'],
      ['admin.vm.device.block.Unassign', 'vm0001', 'dom0+sdz:*', '', '2\\0DeviceNotAssigned\\0\\0block device dom0:sdz:* not assigned to vm0001\\0'],
      ['admin.vm.device.block.Set.assignment', 'vm0001', 'dom0+sdz:*', 'always', '2\\0QubesUnrecognizedDeviceAssignmentMode\\0\\0Invalid assignment mode\\0'],
      ['admin.vm.device.block.Set.assignment', 'vm0001', 'dom0+sdz:*', 'required', '2\\0QubesValueError\\0\\0Device dom0:sdz:* not assigned to vm0001\\0'],
      ['admin.vm.device.block.Attach', 'vm0001', 'dom0+sdz', '', "2\\0QubesVMNotRunningError\\0\\0VM not running, cannot attach device, do you mean `assign`?\\0"],
      ['admin.vm.device.denied.Add', 'vm0001', '', 'u03***', "2\\0QubesValueError\\0\\0Invalid length of interfaces='u03***' (is 6, expected multiple of 7)\\0"],
      ['admin.vm.device.denied.Add', 'vm0001', '', 'u03****u03****', '2\\0ProtocolError\\0\\0Duplicated device interfaces in payload.\\0'],
    ];
    for (const [m, dest, arg, payload, expected] of cases) expect([m, payload, shown(await d.call(m, dest, arg, payload))]).toEqual([m, payload, expected]);
    expect(await d.call('admin.vm.device.block.Assign', 'vm0001', 'dom0', "mode='required'")).toEqual(Buffer.alloc(0));
    expect(d.store.read()).toBe(before);
  });
});
