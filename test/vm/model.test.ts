import fs from 'node:fs';
import path from 'node:path';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import type { Qubes } from '../../lib/app/app.js';
import { Labels } from '../../lib/app/labels.js';
import { checkWithNetvm, checkWithTemplate, featureIsTrue } from '../../lib/vm/features.js';
import { ipv4For } from '../../lib/vm/net.js';
import { validateVmName } from '../../lib/vm/names.js';
import type { QubesVM } from '../../lib/vm/qubes-vm.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { tmpDir, vector } from '../helpers.js';

/** q10 loaded into memory, with a private base directory (for vm-kernels/). */
function load(): { app: Qubes; baseDir: string } {
  const baseDir = tmpDir('qubes-model-');
  const file = vector('qubes-xml/q10.xml');
  const app = loadQubesXml(fs.readFileSync(file, 'utf8'), file, new OfflineVmm(), baseDir);
  return { app, baseDir };
}

const vmOf = (app: Qubes, name: string): QubesVM => {
  const vm = app.domains.get(name);
  if (!vm) throw new Error(`test setup: no ${name}`);
  return vm;
};

describe('qid allocation', () => {
  test('smallest unused qid, and a freed qid is reused at once', () => {
    const { app } = load();
    // q10 uses qids 0..13 without gaps.
    expect(app.allocateQid()).toBe(14);
    const vm0000 = vmOf(app, 'vm0000');
    expect(vm0000.qid).toBe(4);
    app.removeVm(vm0000);
    expect(app.domains.get('vm0000')).toBeUndefined();
    expect(app.allocateQid()).toBe(4);
    app.removeVm(vmOf(app, 'vm0005'));
    expect(app.allocateQid()).toBe(4);
  });
});

describe('qube names', () => {
  test('valid names pass through', () => {
    for (const n of ['work', 'a', 'sys-net', 'my_vm.2', 'A-b_c.d', 'x'.repeat(31)]) expect(validateVmName(n)).toBe(n);
  });

  test.each([
    ['', /empty/],
    ['1vm', /illegal characters/],
    ['x'.repeat(32), /longer than 31/],
    ['none', /cannot be 'none'/],
    ['default', /cannot be 'default'/],
    ['Domain-0', /cannot be 'Domain-0'/],
    ['sys-net-dm', /-dm/],
    ['my vm', /illegal characters/],
    ['_vm', /illegal characters/],
    ['lost+found', /illegal characters/],
  ])('%j is refused', (name, msg) => {
    expect(() => validateVmName(name)).toThrow(msg);
  });
});

describe('network', () => {
  test('a netvm loop is refused, direct or through a chain', () => {
    const { app } = load();
    // sys-firewall -> sys-net; sys-net -> sys-firewall would loop.
    expect(() => vmOf(app, 'sys-net').set('netvm', 'sys-firewall')).toThrow('Loops in network are unsupported');
    expect(vmOf(app, 'sys-net').get('netvm')).toBeNull();
    // a qube cannot be its own netvm
    expect(() => vmOf(app, 'sys-firewall').set('netvm', 'sys-firewall')).toThrow('Loops in network are unsupported');
    // longer chain: vm0000 -> vm0001 -> vm0000
    const a = vmOf(app, 'vm0000');
    const b = vmOf(app, 'vm0001');
    a.set('provides_network', 'True');
    b.set('provides_network', 'True');
    b.set('netvm', 'vm0000');
    expect(() => a.set('netvm', 'vm0001')).toThrow('Loops in network are unsupported');
    expect(a.get('netvm')).toBe('sys-firewall');
  });

  test('netvm must provide network', () => {
    const { app } = load();
    expect(() => vmOf(app, 'vm0001').set('netvm', 'vm0002')).toThrow('The vm0002 qube does not provide network');
    expect(vmOf(app, 'vm0001').isDefault('netvm')).toBe(true);
  });

  test('provides_network cannot be cleared while the qube is in use as netvm', () => {
    const { app } = load();
    // sys-firewall is the default netvm of every vm000N
    expect(() => vmOf(app, 'sys-firewall').set('provides_network', 'False')).toThrow(/still used by other qubes as netvm/);
    expect(vmOf(app, 'sys-firewall').get('provides_network')).toBe(true);
    // a provider nobody uses can be cleared
    const v = vmOf(app, 'vm0003');
    v.set('provides_network', 'True');
    expect(v.features.get('servicevm')).toBe('1');
    v.set('provides_network', 'False');
    expect(v.get('provides_network')).toBe(false);
  });

  test('IPv4 derived from the qid', () => {
    expect(ipv4For('10.137', 5)).toBe('10.137.0.5');
    expect(ipv4For('10.137', 254)).toBe('10.137.0.254');
    expect(ipv4For('10.137', 255)).toBe('10.137.1.1');
    expect(ipv4For('10.137', 509)).toBe('10.137.2.1');
    expect(ipv4For('10.138', 1)).toBe('10.138.0.1');
    const { app } = load();
    expect(vmOf(app, 'vm0001').get('ip')).toBe('10.137.0.5');
    expect(vmOf(app, 'vm0001').get('visible_gateway')).toBe('10.137.0.3');
  });
});

describe('virt_mode', () => {
  test('pvh by default, hvm with a PCI device, and then pvh is refused', () => {
    const { app } = load();
    const vm = vmOf(app, 'vm0001');
    expect(vm.get('virt_mode')).toBe('pvh');
    expect(vm.isDefault('virt_mode')).toBe(true);
    vm.devices.push({ devclass: 'pci', assignments: [{ backend: 'dom0', port: '00_14.0', mode: 'required', identity: '*', options: [] }] });
    expect(vm.get('virt_mode')).toBe('hvm');
    expect(() => vm.set('virt_mode', 'pvh')).toThrow(/pvh mode can't be set if pci devices are attached/);
    expect(vm.isDefault('virt_mode')).toBe(true);
    vm.set('virt_mode', 'pv');
    expect(vm.get('virt_mode')).toBe('pv');
  });

  test('virt_mode is restricted to hvm, pv, pvh', () => {
    const { app } = load();
    const vm = vmOf(app, 'vm0001');
    expect(() => vm.set('virt_mode', 'xen')).toThrow(/hvm, pv, pvh/);
    expect(vm.isDefault('virt_mode')).toBe(true);
  });

  // BUG: spec §2.3 says virt_mode input is lower-cased (reference _setter_virt_mode does
  // value.lower()), but 'HVM' is refused with "Invalid value for property virt_mode".
  test('virt_mode input is lower-cased', () => {
    const { app } = load();
    const vm = vmOf(app, 'vm0001');
    vm.set('virt_mode', 'HVM');
    expect(vm.get('virt_mode')).toBe('hvm');
  });
});

describe('template inheritance', () => {
  test('memory, vcpus, kernel and default_user follow the template unless set on the qube', () => {
    const { app, baseDir } = load();
    fs.mkdirSync(path.join(baseDir, 'vm-kernels', '6.6.1'), { recursive: true });
    fs.writeFileSync(path.join(baseDir, 'vm-kernels', '6.6.1', 'vmlinuz'), '');
    const tpl = vmOf(app, 'fedora-41');
    const inheriting = vmOf(app, 'vm0001');
    const own = vmOf(app, 'vm0002');
    own.set('memory', '600');
    own.set('vcpus', '3');
    own.set('kernel', '');
    own.set('default_user', 'alice');

    expect(inheriting.get('memory')).toBe(400);
    expect(inheriting.get('vcpus')).toBe(2);
    expect(inheriting.get('default_user')).toBe('user');
    // global default_kernel is the literal string 'None' in q10
    expect(inheriting.get('kernel')).toBe('None');

    tpl.set('memory', '1234');
    tpl.set('vcpus', '4');
    tpl.set('kernel', '6.6.1');
    tpl.set('default_user', 'bob');

    expect(inheriting.get('memory')).toBe(1234);
    expect(inheriting.get('vcpus')).toBe(4);
    expect(inheriting.get('kernel')).toBe('6.6.1');
    expect(inheriting.get('default_user')).toBe('bob');
    expect(inheriting.isDefault('memory')).toBe(true);

    expect(own.get('memory')).toBe(600);
    expect(own.get('vcpus')).toBe(3);
    expect(own.get('kernel')).toBe('');
    expect(own.get('default_user')).toBe('alice');

    // back to the template's value after reset
    own.reset('memory');
    expect(own.get('memory')).toBe(1234);
  });

  test('a kernel that is not installed is refused', () => {
    const { app } = load();
    expect(() => vmOf(app, 'fedora-41').set('kernel', '9.9.9')).toThrow("Kernel '9.9.9' not installed");
    expect(() => vmOf(app, 'fedora-41').set('kernel', '../x')).toThrow(/may not contain '\/'/);
  });
});

describe('features', () => {
  test('empty string is false, "0" is true, absent is neither', () => {
    expect(featureIsTrue('')).toBe(false);
    expect(featureIsTrue('0')).toBe(true);
    expect(featureIsTrue('1')).toBe(true);
    expect(featureIsTrue(undefined)).toBe(false);
  });

  test('booleans are stored as 1 and empty', () => {
    const { app } = load();
    const f = vmOf(app, 'vm0001').features;
    f.set('x-t', true);
    f.set('x-f', false);
    expect(f.get('x-t')).toBe('1');
    expect(f.get('x-f')).toBe('');
    expect(() => f.set('bad name', '1')).toThrow(/Invalid feature name/);
  });

  test('checkWithTemplate walks to the template; checkWithNetvm along the netvm chain', () => {
    const { app } = load();
    const tpl = vmOf(app, 'fedora-41');
    const vm = vmOf(app, 'vm0001');
    expect(checkWithTemplate(vm, 'os', 'dflt')).toBe('dflt');
    expect(checkWithTemplate(vm, 'os')).toBeUndefined();
    tpl.features.set('os', 'Linux');
    expect(checkWithTemplate(vm, 'os')).toBe('Linux');
    vm.features.set('os', 'Other');
    expect(checkWithTemplate(vm, 'os')).toBe('Other');
    // the template's own empty value is found (not skipped as "false")
    tpl.features.set('qrexec', '');
    expect(checkWithTemplate(vm, 'qrexec', 'x')).toBe('');

    expect(checkWithNetvm(vm, 'ipv6')).toBeUndefined();
    vmOf(app, 'sys-net').features.set('ipv6', '1');
    expect(checkWithNetvm(vm, 'ipv6')).toBe('1');
    vmOf(app, 'sys-firewall').features.set('ipv6', '');
    expect(checkWithNetvm(vm, 'ipv6')).toBe('');
  });
});

describe('write-once properties', () => {
  test('name, qid and uuid cannot be changed or reset once set', () => {
    const { app } = load();
    const vm = vmOf(app, 'vm0001');
    expect(() => vm.set('name', 'other')).toThrow("property 'name' is write-once and already set");
    expect(() => vm.set('qid', '99')).toThrow("property 'qid' is write-once and already set");
    expect(() => vm.set('uuid', '11111111-2222-4333-8444-555555555555')).toThrow(
      "property 'uuid' is write-once and already set",
    );
    expect(() => vm.reset('qid')).toThrow(/write-once/);
    expect(() => vm.reset('name')).toThrow(/write-once/);
    expect(vm.name).toBe('vm0001');
    expect(vm.qid).toBe(5);
    expect(vm.get('uuid')).toBe('8fdd92b8-f91c-4f47-a164-ef68efdd8476');
  });

  test("dom0's identity cannot be set at all", () => {
    const { app } = load();
    const dom0 = vmOf(app, 'dom0');
    expect(() => dom0.set('name', 'x')).toThrow("property 'name' cannot be set");
    expect(() => dom0.set('qid', '1')).toThrow("property 'qid' cannot be set");
    expect(dom0.get('qid')).toBe(0);
  });
});

describe('labels', () => {
  test('lookup by name, index, numeric string and label-N', () => {
    const { app } = load();
    expect(app.labels.get('yellow').index).toBe(3);
    expect(app.labels.get(3).name).toBe('yellow');
    expect(app.labels.get('3').name).toBe('yellow');
    expect(app.labels.get('label-3').name).toBe('yellow');
    expect(() => app.labels.get('pink')).toThrow(/Label does not exist: pink/);
    expect(() => app.labels.get(42)).toThrow(/Label does not exist/);
    const vm = vmOf(app, 'vm0001');
    vm.set('label', 'label-6');
    expect(vm.get('label')).toBe('blue');
    vm.set('label', '1');
    expect(vm.get('label')).toBe('red');
  });

  test('custom labels get the next index after 8', () => {
    const labels = Labels.defaults();
    expect(labels.addCustom('pink', '0xFF00AA')).toEqual({ index: 9, name: 'pink', color: '0xff00aa' });
    expect(labels.addCustom('teal', '0x008080').index).toBe(10);
    expect(() => labels.addCustom('123', '0x000000')).toThrow(/Invalid label name/);
    expect(() => labels.addCustom('ok', 'red')).toThrow(/Invalid color/);
  });
});

describe('usages', () => {
  const describeUsages = (app: Qubes, name: string) =>
    app
      .usagesOf(vmOf(app, name))
      .map((u) => `${u.holder ? u.holder.name : '(global)'}.${u.prop}`)
      .sort();

  test('sys-firewall and fedora-41 report global and per-qube references', () => {
    const { app } = load();
    expect(describeUsages(app, 'sys-firewall')).toEqual(['(global).default_netvm']);
    const tplUsers = describeUsages(app, 'fedora-41');
    expect(tplUsers).toContain('(global).default_template');
    for (const n of ['sys-firewall', 'sys-net', 'vm0000', 'vm0005', 'vm0009']) expect(tplUsers).toContain(`${n}.template`);
    expect(tplUsers).toHaveLength(1 + 12);
    expect(describeUsages(app, 'sys-net')).toEqual(['sys-firewall.netvm']);
    expect(describeUsages(app, 'vm0001')).toEqual([]);
  });

  test('an explicit per-qube reference is reported; removal of a used qube is refused', () => {
    const { app } = load();
    vmOf(app, 'vm0002').set('netvm', 'sys-firewall');
    expect(describeUsages(app, 'sys-firewall')).toEqual(['(global).default_netvm', 'vm0002.netvm']);
    expect(() => app.removeVm(vmOf(app, 'sys-firewall'))).toThrow(/Domain is in use: 'sys-firewall'/);
    expect(() => app.removeVm(vmOf(app, 'dom0'))).toThrow(/cannot be removed/);
  });
});
