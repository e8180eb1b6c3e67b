// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Assignments and attachments through the commands, on a copy of q10 and
 * the sample sysfs tree: what is stored (the reference's current
 * `<device>` shape), what the reference's loader makes of it, and every
 * refusal with its own message and nothing changed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { domainXml, ROOT, run, tmpStore, type TmpStore } from '../helpers.js';
import { addBlock, makeSysfs, type SysfsFixture } from './sysfs-fixture.js';

let fx: SysfsFixture;
beforeAll(() => {
  fx = makeSysfs();
  // a loop device with a backing file, and an empty one (not exposed)
  addBlock(fx, 'loop9', { dev: '7:9', size: '2048', ro: '0', 'loop/backing_file': '/srv/images/disk.img' });
  addBlock(fx, 'loop8', { dev: '7:8', size: '0', ro: '0' });
  addBlock(fx, 'sr0', { dev: '11:0', size: '4096', ro: '1' });
});
afterAll(() => fs.rmSync(fx.root, { recursive: true, force: true }));

let s: TmpStore;
beforeEach(() => {
  s = tmpStore('qubes-xml/q10.xml');
});
afterEach(() => fs.rmSync(s.dir, { recursive: true, force: true }));

const env = () => ({ ...s.env, ...fx.env });
const qvm = (cmd: string, ...args: string[]) => run(cmd, args, env());

describe('persistent PCI attach on a halted qube', () => {
  test('stored in the reference format, read back as required with the option', () => {
    const r = qvm('qvm-pci', 'attach', '--persistent', '-o', 'no-strict-reset=True', 'vm0001', 'dom0:00_14.0');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(domainXml(s.read(), 'vm0001')).toContain(
      '      <devices class="pci">\n' +
        '        <device backend-domain="dom0" id="00_14.0" mode="required" identity="0x8086:0xa0ed::p0c0330">\n' +
        '          <option name="no-strict-reset">True</option>\n' +
        '        </device>\n' +
        '      </devices>\n',
    );
    const app = loadQubesXml(s.read(), s.xml, new OfflineVmm(), s.dir, []);
    const vm = app.domains.get('vm0001');
    expect(vm?.devices).toEqual([
      { devclass: 'pci', assignments: [{ backend: 'dom0', port: '00_14.0', mode: 'required', identity: '0x8086:0xa0ed::p0c0330', options: [['no-strict-reset', 'True']] }] },
    ]);
    // a PCI device makes the default virt_mode hvm
    expect(qvm('qvm-prefs', 'vm0001', 'virt_mode').stdout).toBe('hvm\n');
    expect(qvm('qvm-pci', 'list', '-s').stdout).toMatch(/^dom0:00_14\.0 +0x8086:0xa0ed::p0c0330 +\*vm0001 \(required: no-strict-reset=True\)$/m);
  });

  test('assign --required is the same; unassign removes it and leaves an empty <devices class="pci"/>', () => {
    expect(qvm('qvm-pci', 'assign', '--required', 'vm0002', 'dom0:c0_03.5-00_00.0-00_00.0').code).toBe(0);
    expect(domainXml(s.read(), 'vm0002')).toContain('<device backend-domain="dom0" id="c0_03.5-00_00.0-00_00.0" mode="required" identity="0x8086:0x2723::p028000"/>');
    expect(qvm('qvm-pci', 'unassign', 'vm0002', 'dom0:c0_03.5-00_00.0-00_00.0').code).toBe(0);
    expect(domainXml(s.read(), 'vm0002')).toContain('      <devices class="pci"/>\n');
  });

  test('--port stores identity *, listed as any device', () => {
    expect(qvm('qvm-block', 'assign', '--port', 'vm0003', 'dom0:loop9').code).toBe(0);
    expect(domainXml(s.read(), 'vm0003')).toContain('<device backend-domain="dom0" id="loop9" mode="auto-attach" identity="*"/>');
    expect(qvm('qvm-block', 'list', '-s').stdout).toMatch(/^dom0:loop9 +any device +\*vm0003 \(auto-attach\)$/m);
    // the same assignment with another mode changes the mode
    expect(qvm('qvm-block', 'assign', '--port', '--ask', 'vm0003', 'dom0:loop9').code).toBe(0);
    expect(domainXml(s.read(), 'vm0003')).toContain('<device backend-domain="dom0" id="loop9" mode="ask-to-attach" identity="*"/>');
  });

  test('each change is announced: a log line with -v', () => {
    const r = qvm('qvm-block', 'assign', '-v', 'vm0003', 'dom0:loop9');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('qvm-block: vm0003: device-assign:block dom0:loop9::9 mode=auto-attach\n');
    expect(qvm('qvm-block', 'unassign', '-v', 'vm0003', 'dom0:loop9').stderr).toBe('qvm-block: vm0003: device-unassign:block dom0:loop9::9 mode=auto-attach\n');
  });
});

describe('listing', () => {
  test('block: only exposed devices (an empty loop is not, an empty CD drive is not), sorted', () => {
    const r = qvm('qvm-block', 'list');
    expect(r.stdout).toBe('dom0:loop9  Block_Storage: hosted by dom0 /srv/images/disk.img  \ndom0:sr0    Block_Storage: hosted by dom0 unknown block device  \n');
    expect(qvm('qvm-block', 'info', 'dom0:sr0').stdout).toContain('mode: r\n');
  });

  test('header only on a terminal (not here); unknown class refused', () => {
    expect(qvm('qvm-usb').stdout).toBe('');
    const r = qvm('qvm-device', 'foo', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("qvm-device: error: Failed to list 'foo' devices, this device type either does not exist or you do not have access to it.\n");
  });

  test('a link named qvm-CLASS to qvm-device fixes the class', () => {
    const links = fs.mkdtempSync(path.join(s.dir, 'bin-'));
    for (const n of ['qvm-block', 'qvm-mic']) fs.symlinkSync(path.join(ROOT, 'bin', 'qvm-device'), path.join(links, n));
    const viaLink = (n: string, ...args: string[]) => spawnSync(path.join(links, n), args, { env: env(), encoding: 'utf8' });
    expect(viaLink('qvm-block').stdout).toBe(qvm('qvm-block', 'list').stdout);
    const mic = viaLink('qvm-mic', 'attach', 'vm0001', 'dom0:mic');
    expect(mic.stderr).toBe("qvm-mic: error: backend vm dom0 doesn't expose mic device 'mic'\n");
    expect(mic.status).toBe(1);
  });

  test('--list-device-classes', () => {
    expect(qvm('qvm-device', '--list-device-classes').stdout).toBe('block\nmic\npci\nusb\n');
  });
});

describe('every invalid request is refused with its own error and changes nothing', () => {
  const cases: [string, string[], number, string][] = [
    ['qvm-block', ['attach', 'vm0001', 'dom0:loop9'], 1, 'VM not running, cannot attach device, do you mean `assign`?'],
    ['qvm-pci', ['attach', 'vm0001', 'dom0:00_14.0'], 1, 'PCI devices cannot be attached manually, did you mean `qvm-pci assign --required ...`'],
    ['qvm-pci', ['attach', 'vm0001', 'dom0:00_1f.0'], 1, "backend vm dom0 doesn't expose pci device '00_1f.0'"],
    ['qvm-pci', ['assign', '-r', 'vm0001', 'dom0:00_1f.0'], 1, "backend vm dom0 doesn't expose pci device '00_1f.0'"],
    ['qvm-pci', ['assign', '-r', '--port', 'vm0001', 'dom0:00_1f.0'], 1, 'Invalid PCI device: 00_1f.0'],
    ['qvm-pci', ['assign', '-r', 'vm0001', 'nosuchqube:00_14.0'], 1, 'no such backend vm!'],
    ['qvm-pci', ['assign', '-r', 'vm0001', '00_14.0'], 2, 'expected a backend vm, port id and [optional] device id combination like foo:bar[:baz] got 00_14.0'],
    ['qvm-pci', ['assign', '-r', 'nosuchqube', 'dom0:00_14.0'], 2, "no such domain: 'nosuchqube'"],
    ['qvm-pci', ['assign', 'vm0001', 'dom0:00_14.0'], 1, 'PCI devices cannot be assigned as not required.'],
    ['qvm-pci', ['assign', '-r', 'dom0', 'dom0:00_14.0'], 1, "Can't attach PCI device to dom0"],
    ['qvm-pci', ['assign', '-r', '-o', 'frobnicate=1', 'vm0001', 'dom0:00_14.0'], 1, 'Unsupported option frobnicate'],
    ['qvm-pci', ['assign', '-r', '--ask', 'vm0001', 'dom0:00_14.0'], 2, 'argument --ask/--ask-to-attach: not allowed with argument --required/-r'],
    ['qvm-usb', ['assign', '-r', '--port', 'vm0001', 'dom0:1-1'], 1, 'Only pci and block devices can be assigned as required.'],
    ['qvm-block', ['assign', '-o', 'frontend-dev=hda', 'vm0001', 'dom0:loop9'], 1, 'Invalid frontend-dev option value: hda'],
    ['qvm-block', ['assign', '-o', 'read-only=maybe', 'vm0001', 'dom0:loop9'], 1, "Invalid literal for boolean property: 'maybe'"],
    ['qvm-block', ['assign', '-o', 'devtype=floppy', 'vm0001', 'dom0:loop9'], 1, "devtype option can only have 'disk' or 'cdrom' value"],
    ['qvm-block', ['assign', '-o', 'ro=maybe', 'vm0001', 'dom0:loop9'], 1, 'Unknown `read-only` option value: maybe'],
    ['qvm-block', ['assign', '-o', 'novalue', 'vm0001', 'dom0:loop9'], 2, "option must be NAME=VALUE, got 'novalue'"],
    ['qvm-block', ['assign', 'vm0001', 'dom0:loop8'], 1, "backend vm dom0 doesn't expose block device 'loop8'"],
    ['qvm-block', ['assign', '--port', '--device', 'vm0001', 'dom0:loop9'], 2, 'argument --device/--only-device: not allowed with argument --port/--only-port'],
    ['qvm-block', ['unassign', 'vm0001', 'dom0:loop9'], 1, 'block device dom0:loop9::9 not assigned to vm0001'],
    ['qvm-block', ['detach', 'vm0001', 'dom0:loop9'], 1, 'block device loop9 not attached to vm0001'],
    ['qvm-block', ['detach', 'vm0001', 'dom0:loop9:other'], 1, 'dom0:loop9:other is not attached.'],
    ['qvm-block', ['detach', 'vm0001', 'dom0:*'], 1, 'dom0:*:* is not attached.'],
    ['qvm-block', ['attach', 'dom0', 'dom0:loop9'], 1, 'VMM operations disabled in offline mode'],
    ['qvm-block', ['info', 'dom0:loop9:other'], 1, 'this option works only for explicitly given port ID and does not support device ID'],
    ['qvm-block', ['list', '--ro'], 2, "option --ro is not valid with 'list'"],
    ['qvm-block', ['frob'], 2, "argument COMMAND: invalid choice: 'frob' (choose from list, ls, l, attach, at, a, detach, d, dt, assign, s, unassign, u, info, i)"],
  ];
  test.each(cases)('%s %j', (cmd, args, code, message) => {
    const before = fs.readFileSync(s.xml);
    const r = qvm(cmd, ...args);
    expect(r.stderr).toBe(`${cmd}: error: ${message}\n`);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(fs.readFileSync(s.xml).equals(before)).toBe(true);
  });

  test('an assignment made twice', () => {
    expect(qvm('qvm-pci', 'assign', '-r', 'vm0001', 'dom0:00_14.0').code).toBe(0);
    const before = s.read();
    const r = qvm('qvm-pci', 'attach', '-p', 'vm0001', 'dom0:00_14.0');
    expect(r.stderr).toBe('qvm-pci: error: pci device dom0:00_14.0:0x8086:0xa0ed::p0c0330 already assigned to vm0001\n');
    expect(r.code).toBe(1);
    expect(s.read()).toBe(before);
  });

  test('PCI to a qube in pvh mode', () => {
    expect(qvm('qvm-prefs', 'vm0001', 'virt_mode', 'pvh').code).toBe(0);
    const before = s.read();
    const r = qvm('qvm-pci', 'assign', '-r', 'vm0001', 'dom0:00_14.0');
    expect(r.stderr).toBe("qvm-pci: error: Can't attach PCI device to VM in pvh mode\n");
    expect(s.read()).toBe(before);
  });
});
