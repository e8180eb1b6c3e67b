// Domain XML of qubes: the Xen template against the reference's expected
// outputs (qubes/tests/vm/qubesvm.py test_600_*), the QEMU template, and
// override files. Stores are real qubes.xml files in a temporary base
// directory with a kernel directory and file-reflink / linux-kernel pools.
import { afterAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Qubes } from '../../lib/app/app.js';
import { QubesError } from '../../lib/errors.js';
import { parseXml, type XmlElement } from '../../lib/util/xml-reader.js';
import { interfaceXml, liveInterfaceXml } from '../../lib/vmm/domain-xml/net-interface.js';
import { renderDomainXml, type RenderOptions } from '../../lib/vmm/domain-xml/render.js';
import { makeSysfs } from '../devices/sysfs-fixture.js';
import { FakeVmm } from './fake-vmm.js';
import { KERNEL_VOLUME, qubeStore, UUID, volume, type Qube } from './qube-store.js';

const MACHINE_ID = UUID.replace(/-/g, '');
const COMMON = 'root=/dev/mapper/dmroot ro nomodeset console=hvc0 rd_NO_PLYMOUTH rd.plymouth.enable=0 plymouth.enable=0 xen_privcmd.unrestricted ';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A store whose first qube is the one rendered, with a FakeVmm for `uri`. */
function store(qubes: Qube[], uri = 'xen:///', running: Record<string, number> = {}, dom0Features = ''): { app: Qubes; base: string } {
  const s = qubeStore(qubes, new FakeVmm(uri, running), dom0Features);
  dirs.push(s.base);
  return s;
}

const render = (app: Qubes, uri = 'xen:///', o: RenderOptions = {}) =>
  renderDomainXml(app, app.domains.get('test')!, uri, { templateDirs: [], cpuinfo: () => '', ...o });

/** Child elements by path (`os/kernel`), first match at each step. */
function at(root: XmlElement, p: string): XmlElement | undefined {
  let cur: XmlElement | undefined = root;
  for (const step of p.split('/')) cur = cur?.children.find((c) => c.name === step);
  return cur;
}
const all = (root: XmlElement, name: string) => root.children.filter((c) => c.name === name);
const attr = (e: XmlElement | undefined, n: string) => e?.attrs.find(([k]) => k === n)?.[1];
const names = (e: XmlElement | undefined) => e?.children.map((c) => c.name) ?? [];

describe('Xen template (reference test_600_*)', () => {
  test('pv with a dom0 kernel: the whole document', async () => {
    const { app, base } = store([{ props: { virt_mode: 'pv', maxmem: '500', kernel: 'dummy' }, volumes: KERNEL_VOLUME }]);
    const k = `${base}/vm-kernels/dummy`;
    expect(await render(app)).toBe(`<domain type="xen">
  <name>test</name>
  <uuid>${UUID}</uuid>
  <memory unit="MiB">500</memory>
  <currentMemory unit="MiB">400</currentMemory>
  <vcpu placement="static">2</vcpu>
  <os>
    <type arch="x86_64" machine="xenpv">linux</type>
    <kernel>${k}/vmlinuz</kernel>
    <initrd>${k}/initramfs</initrd>
    <cmdline>systemd.machine_id=${MACHINE_ID} ${COMMON}swiotlb=2048</cmdline>
  </os>
  <features>
  </features>
  <clock offset="utc" adjustment="reset">
    <timer name="tsc" mode="native"/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type="block" device="disk">
      <driver name="phy"/>
      <source dev="${k}/modules.img"/>
      <target dev="xvdd"/>
      <readonly/>
      <script path="/etc/xen/scripts/qubes-block"/>
    </disk>
    <console type="pty">
      <target type="xen" port="0"/>
    </console>
  </devices>
</domain>
`);
  });

  test('pvh: host-passthrough CPU without nested HVM, PVH machine, ACPI features', async () => {
    const { app } = store([{ props: { virt_mode: 'pvh', maxmem: '500', kernel: 'dummy' }, volumes: KERNEL_VOLUME }]);
    const d = parseXml(await render(app));
    expect(attr(at(d, 'cpu'), 'mode')).toBe('host-passthrough');
    expect(all(at(d, 'cpu')!, 'feature').map((f) => [attr(f, 'name'), attr(f, 'policy')])).toEqual([
      ['vmx', 'disable'],
      ['svm', 'disable'],
      ['invtsc', 'require'],
    ]);
    expect([attr(at(d, 'os/type'), 'machine'), at(d, 'os/type')?.text]).toEqual(['xenpvh', 'xenpvh']);
    expect(names(at(d, 'features'))).toEqual(['pae', 'acpi', 'apic', 'viridian']);
  });

  test('pvh without a kernel boots pvgrub2-pvh and has no command line', async () => {
    const { app, base } = store([{ props: { virt_mode: 'pvh', maxmem: '500', kernel: '' } }]);
    const d = parseXml(await render(app));
    expect(at(d, 'os/kernel')?.text).toBe(`${base}/vm-kernels/pvgrub2-pvh/vmlinuz`);
    expect(names(at(d, 'os'))).toEqual(['type', 'kernel']);
  });

  test('hvm without kernel: hvmloader, emulator with audio xid -1, video and Qubes GUI, memory without balancing', async () => {
    const { app } = store([{ props: { virt_mode: 'hvm', kernel: '', audiovm: '' } }]);
    const d = parseXml(await render(app));
    expect(at(d, 'memory')?.text).toBe('400');
    expect(names(at(d, 'os'))).toEqual(['type', 'loader', 'boot', 'boot']);
    expect([attr(at(d, 'os/loader'), 'type'), at(d, 'os/loader')?.text]).toEqual(['rom', 'hvmloader']);
    expect(attr(at(d, 'clock'), 'basis')).toBe('localtime');
    expect(names(at(d, 'devices'))).toEqual(['emulator', 'input', 'video', 'graphics', 'console']);
    expect(at(d, 'devices/emulator')?.attrs).toEqual([
      ['type', 'stubdom-linux'],
      ['cmdline', '-qubes-audio:audiovm_xid=-1'],
    ]);
    expect(at(d, 'devices/graphics')?.attrs).toEqual([['type', 'qubes']]);
  });

  test('hvm with a running GUI qube and debug: graphics domain and log level, trace option', async () => {
    const { app } = store(
      [
        { props: { virt_mode: 'hvm', kernel: '', guivm: 'guivm', audiovm: 'audio', debug: 'True' }, features: { timezone: '-3600' } },
        { name: 'guivm', klass: 'AppVM', props: { template: 'tpl' } },
        { name: 'audio', klass: 'AppVM', props: { template: 'tpl' } },
        { name: 'tpl', klass: 'TemplateVM' },
      ],
      'xen:///',
      { guivm: 7, audio: 9 },
    );
    const d = parseXml(await render(app));
    expect(at(d, 'devices/graphics')?.attrs).toEqual([
      ['type', 'qubes'],
      ['domain', 'guivm'],
      ['log_level', '2'],
    ]);
    expect(attr(at(d, 'devices/emulator'), 'cmdline')).toBe('-qubes-audio:audiovm_xid=9 -trace xen_platform_log');
    expect(at(d, 'clock')?.attrs).toEqual([
      ['offset', 'variable'],
      ['adjustment', '-3600'],
      ['basis', 'utc'],
    ]);
  });

  test('hvm with a netvm: stubdomain network options; legacy stubdom and UEFI; no video', async () => {
    const { app } = store([
      {
        props: { virt_mode: 'hvm', kernel: '', netvm: 'net', stubdom_mem: '200', audiovm: '' },
        features: { 'linux-stubdom': '', uefi: '1', 'video-model': 'none', 'audio-model': 'ich6' },
      },
      { name: 'net', props: { provides_network: 'True', netvm: '' } },
    ]);
    const d = parseXml(await render(app));
    const emu = at(d, 'devices/emulator');
    expect(attr(emu, 'type')).toBe('stubdom');
    expect(attr(emu, 'cmdline')).toBe('-qubes-audio:audiovm_xid=-1 -net lwip,client_ip=10.137.0.1,server_ip=10.139.1.2,dns=10.139.1.1,gw=10.137.0.2,netmask=255.255.255.255');
    expect(attr(emu, 'memory')).toBe(String(200 * 1024));
    expect(attr(emu, 'kernel')).toBe('/usr/libexec/xen/boot/qemu-stubdom-linux-full-kernel');
    expect([attr(at(d, 'os/loader'), 'type'), at(d, 'os/loader')?.text]).toEqual(['pflash', '/usr/share/edk2/xen/OVMF.fd']);
    expect(names(at(d, 'devices'))).toEqual(['interface', 'emulator', 'input', 'sound', 'console']);
  });

  test('volumes: fixed frontends for root/private/volatile/kernel, others from xvde; read-only ones', async () => {
    const { app, base } = store([{ props: { virt_mode: 'pvh', kernel: 'dummy' }, volumes: volume('root', false) + volume('private') + volume('volatile') + volume('data') + volume('more') + KERNEL_VOLUME }]);
    const d = parseXml(await render(app));
    const disks = all(at(d, 'devices')!, 'disk');
    expect(disks.map((x) => [attr(at(x, 'target'), 'dev'), names(x).includes('readonly')])).toEqual([
      ['xvda', true],
      ['xvdb', false],
      ['xvdc', false],
      ['xvde', false],
      ['xvdf', false],
      ['xvdd', true],
    ]);
    expect(attr(at(disks[1]!, 'source'), 'dev')).toBe(`${base}/pool/appvms/test/private-dirty.img`);
  });

  test('an ephemeral volume is seen through its dm-crypt mapping', async () => {
    const { app } = store([{ props: { virt_mode: 'pvh' }, volumes: volume('volatile').replace('/>', ' ephemeral="True"/>') }]);
    const d = parseXml(await render(app));
    expect(attr(at(d, 'devices/disk/source'), 'dev')).toMatch(/^\/dev\/mapper\/.+/);
    expect(attr(at(d, 'devices/disk/target'), 'dev')).toBe('xvdc');
  });

  test('network interface from the netvm and ip properties, IPv6 when the netvm chain enables it', async () => {
    const { app } = store([
      { props: { virt_mode: 'pvh', netvm: 'net', mac: '00:16:3E:5E:6C:11' } },
      { name: 'net', props: { provides_network: 'True', netvm: '' }, features: { ipv6: '1' } },
    ]);
    const d = parseXml(await render(app));
    const i = at(d, 'devices/interface');
    expect(attr(i, 'type')).toBe('ethernet');
    expect(i?.children.map((c) => [c.name, ...c.attrs.map(([, v]) => v)])).toEqual([
      ['mac', '00:16:3e:5e:6c:11'],
      ['ip', '10.137.0.1'],
      ['ip', 'fd09:24ef:4179::a89:1', 'ipv6'],
      ['backenddomain', 'net'],
      ['script', 'vif-route-qubes'],
    ]);
  });

  test("a net qube change: the interface a detach names is the live domain's, the one an attach adds is a start's for the new net qube; QEMU domains have none", async () => {
    const { app } = store([
      { props: { virt_mode: 'pvh', netvm: 'net', mac: '00:16:3E:5E:6C:11' } },
      { name: 'net', props: { provides_network: 'True', netvm: '' } },
      { name: 'net2', props: { provides_network: 'True', netvm: '' } },
    ]);
    const vm = app.domains.get('test')!;
    const live = liveInterfaceXml(await render(app));
    expect(live).toMatch(/^<interface type="ethernet">\n {2}<mac address="00:16:3e:5e:6c:11"\/>\n.*<backenddomain name="net"\/>\n/s);
    expect(live).toBe(interfaceXml(vm, 'xen'));
    vm.set('netvm', 'net2');
    expect(interfaceXml(vm, 'xen')).toBe(liveInterfaceXml(await render(app)));
    expect(interfaceXml(vm, 'xen')).toContain('<backenddomain name="net2"/>');
    vm.set('netvm', '');
    expect(interfaceXml(vm, 'xen')).toBeUndefined();
    vm.set('netvm', 'net2');
    expect([liveInterfaceXml(await render(app, 'qemu:///system')), interfaceXml(vm, 'qemu')]).toEqual([undefined, undefined]);
  });

  test('PCI devices: hostdev from lib/devices, e820_host, memory without balancing in HVM, nomodeset dropped for a GPU', async () => {
    const sysfs = makeSysfs([
      { devpath: 'pci0000:00/0000:00:14.0', vendor: '0x8086', device: '0xa0ed', klass: '0x0c0330' },
      { devpath: 'pci0000:00/0000:00:02.0', vendor: '0x8086', device: '0x46a6', klass: '0x030000' },
    ]);
    dirs.push(sysfs.root);
    const dev = (port: string, opts = '') => `<device backend-domain="dom0" id="${port}" mode="required" identity="*">${opts}</device>`;
    const { app } = store(
      [
        {
          props: { virt_mode: 'hvm', kernel: 'dummy', maxmem: '4000' },
          devices: `<devices class="pci">${dev('00_14.0', '<option name="permissive">True</option><option name="no-strict-reset">True</option>')}${dev('00_02.0')}</devices>`,
        },
      ],
      'xen:///',
      {},
      '<feature name="suspend-s0ix">1</feature>',
    );
    const d = parseXml(await render(app, 'xen:///', { sysRoot: sysfs.sys }));
    expect(at(d, 'memory')?.text).toBe('400');
    expect(at(d, 'features/xen/e820_host')?.attrs).toEqual([['state', 'on']]);
    const h = all(at(d, 'devices')!, 'hostdev');
    expect(h.map((x) => x.attrs)).toEqual([
      [['type', 'pci'], ['managed', 'yes'], ['nostrictreset', 'yes']],
      [['type', 'pci'], ['managed', 'yes']],
    ]);
    expect(at(h[0]!, 'source')?.attrs).toEqual([['writeFiltering', 'no'], ['powerManagementFiltering', 'no']]);
    expect(at(h[0]!, 'source/address')?.attrs).toEqual([['domain', '0x0000'], ['bus', '0x00'], ['slot', '0x14'], ['function', '0x0']]);
    expect(at(d, 'os/cmdline')?.text).not.toContain('nomodeset');
  });

  test('a PCI device that is not there, and a block device by identity only, are errors naming them', async () => {
    const sysfs = makeSysfs([]);
    dirs.push(sysfs.root);
    const pci = store([{ props: { virt_mode: 'hvm' }, devices: '<devices class="pci"><device backend-domain="dom0" id="00_1f.0" mode="required" identity="*"/></devices>' }]);
    await expect(render(pci.app, 'xen:///', { sysRoot: sysfs.sys })).rejects.toThrow('PCI device dom0:00_1f.0 not available');
    const blk = store([{ props: { virt_mode: 'pvh' }, devices: '<devices class="block"><device backend-domain="dom0" id="*" mode="required" identity="abc"/></devices>' }]);
    await expect(render(blk.app)).rejects.toThrow(QubesError);
  });

  test('required block devices: frontend-dev, cdrom as xvdd without kernel, counter from xvdi, backend script by agent version', async () => {
    const dev = (backend: string, port: string, opts: string) => `<device backend-domain="${backend}" id="${port}" mode="required" identity="*">${opts}</device>`;
    const { app } = store([
      {
        props: { virt_mode: 'hvm', kernel: '' },
        devices:
          '<devices class="block">' +
          dev('dom0', 'sdb', '<option name="frontend-dev">xvdz</option><option name="read-only">yes</option>') +
          dev('dom0', 'sr0', '<option name="devtype">cdrom</option>') +
          dev('usbvm', 'mapper_data', '') +
          dev('oldvm', 'sdc', '') +
          '</devices>',
      },
      { name: 'usbvm', features: { 'qubes-agent-version': '4.2' } },
      { name: 'oldvm', features: { 'qubes-agent-version': '4.1' } },
    ]);
    const d = parseXml(await render(app));
    const disks = all(at(d, 'devices')!, 'disk');
    expect(disks.map((x) => [attr(x, 'device'), attr(at(x, 'source'), 'dev'), attr(at(x, 'target'), 'dev'), names(x).filter((n) => !['driver', 'source', 'target'].includes(n)).join(',')])).toEqual([
      ['disk', '/dev/sdb', 'xvdz', 'readonly,script'],
      ['cdrom', '/dev/sr0', 'xvdd', 'script'],
      ['disk', '/dev/mapper/data', 'xvdi', 'backenddomain,script'],
      ['disk', '/dev/sdc', 'xvdj', 'backenddomain'],
    ]);
  });

  test('block devices of one start (qvm-start --cdrom/--hddisk) come after the stored ones and are not stored', async () => {
    const { app } = store([
      {
        props: { virt_mode: 'hvm', kernel: '' },
        devices: '<devices class="block"><device backend-domain="dom0" id="sdb" mode="required" identity="*"/></devices>',
      },
    ]);
    const startOnlyBlock = [
      { backend: 'dom0', port: 'loop7', mode: 'required' as const, identity: '*', options: [['devtype', 'cdrom'], ['read-only', 'yes']] as [string, string][] },
      { backend: 'dom0', port: 'loop8', mode: 'required' as const, identity: '*', options: [['devtype', 'disk'], ['read-only', 'no']] as [string, string][] },
    ];
    const d = parseXml(await render(app, 'xen:///', { startOnlyBlock }));
    const disks = all(at(d, 'devices')!, 'disk');
    expect(disks.map((x) => [attr(x, 'device'), attr(at(x, 'source'), 'dev'), attr(at(x, 'target'), 'dev'), Boolean(at(x, 'readonly'))])).toEqual([
      ['disk', '/dev/sdb', 'xvdi', false],
      ['cdrom', '/dev/loop7', 'xvdd', true],
      ['disk', '/dev/loop8', 'xvdj', false],
    ]);
    expect(app.domains.get('test')!.devices.find((c) => c.devclass === 'block')?.assignments.map((a) => a.port)).toEqual(['sdb']);
    expect(all(at(parseXml(await render(app)), 'devices')!, 'disk').map((x) => attr(at(x, 'source'), 'dev'))).toEqual(['/dev/sdb']);
  });

  test('memory hotplug (Xen, feature or the kernel marker) gives maxMemory; Ivy Bridge hides rdrand', async () => {
    const { app, base } = store([{ props: { virt_mode: 'pvh', kernel: 'dummy', maxmem: '4000', memory: '400' } }]);
    fs.writeFileSync(path.join(base, 'vm-kernels', 'dummy', 'memory-hotplug-supported'), '');
    const d = parseXml(await render(app, 'xen:///', { cpuinfo: () => 'processor\t: 0\ncpu family\t: 6\nmodel\t\t: 58\n' }));
    expect([at(d, 'memory')?.text, at(d, 'maxMemory')?.text, attr(at(d, 'maxMemory'), 'slots')]).toEqual(['400', '4000', '1']);
    expect(all(at(d, 'cpu')!, 'feature').map((f) => attr(f, 'name'))).toEqual(['vmx', 'svm', 'rdrand', 'invtsc']);
  });

  test('command line: default-kernelopts-common.txt, other OS, no-default-kernelopts, AppArmor, boot mode', async () => {
    const { app, base } = store([
      // the options of the boot mode the qube boots in (boot-mode.active; the mode `default` adds none)
      { props: { virt_mode: 'pvh', kernel: 'dummy', kernelopts: 'quiet' }, features: { os: 'Other', apparmor: '1', 'boot-mode.kernelopts.one': 'single', 'boot-mode.active': 'one' } },
    ]);
    fs.writeFileSync(path.join(base, 'vm-kernels', 'dummy', 'default-kernelopts-common.txt'), "kernel <text>'\"& specific options \n");
    const xml = await render(app);
    expect(xml).toContain('<cmdline>kernel &lt;text&gt;\'"&amp; specific options quiet apparmor=1 security=apparmor single</cmdline>');
    app.domains.get('test')!.features.set('no-default-kernelopts', '1');
    expect(parseXml(await render(app)).children.find((c) => c.name === 'os')?.children.find((c) => c.name === 'cmdline')?.text).toBe('quiet single');
  });
});

describe('boot modes on the command line (reference bootmode_kernelopts)', () => {
  const cmdline = async (app: Qubes) => at(parseXml(await render(app)), 'os/cmdline')?.text;
  const template = (features: Record<string, string>, props: Record<string, string> = {}): Qube => ({ name: 'tpl', klass: 'TemplateVM', props, features });

  test("the template's AppVM default mode reaches AppVMs and, through their AppVM, disposables", async () => {
    const tpl = template({ 'boot-mode.kernelopts.nosmt': 'nosmt=force', 'boot-mode.appvm-default': 'nosmt' });
    const { app } = store([{ klass: 'AppVM', props: { virt_mode: 'pvh', template: 'tpl' } }, tpl]);
    expect(await cmdline(app)).toMatch(/ swiotlb=2048 nosmt=force$/);
    const { app: app2 } = store([
      { klass: 'DispVM', props: { virt_mode: 'pvh', template: 'dvm', dispid: '7' } },
      tpl,
      { name: 'dvm', klass: 'AppVM', props: { template: 'tpl', template_for_dispvms: 'True' } },
    ]);
    expect(await cmdline(app2)).toMatch(/ swiotlb=2048 nosmt=force$/);
  });

  test('an explicit bootmode without options falls back to the default mode; `default` and unknown modes add nothing', async () => {
    const tpl = template({ 'boot-mode.kernelopts.nosmt': 'nosmt=force', 'boot-mode.kernelopts.debug': 'debug' }, { appvm_default_bootmode: 'debug' });
    const { app } = store([{ klass: 'AppVM', props: { virt_mode: 'pvh', template: 'tpl', bootmode: 'missing' } }, tpl]);
    expect(await cmdline(app)).toMatch(/ swiotlb=2048 debug$/);
    app.domains.get('test')!.set('bootmode', 'nosmt');
    expect(await cmdline(app)).toMatch(/ swiotlb=2048 nosmt=force$/);
    app.domains.get('test')!.set('bootmode', 'default');
    expect(await cmdline(app)).toMatch(/ swiotlb=2048$/);
    app.domains.get('tpl')!.reset('appvm_default_bootmode');
    app.domains.get('test')!.set('bootmode', 'missing');
    expect(await cmdline(app)).toMatch(/ swiotlb=2048$/);
  });
});

describe('QEMU template (qemu:// URIs)', () => {
  test('a TCG domain: same basics, virtio file disks, serial console, nothing Xen-only', async () => {
    const { app, base } = store(
      [{ props: { virt_mode: 'pvh', kernel: 'dummy', maxmem: '4000', netvm: 'net' }, volumes: volume('root') + volume('private') + KERNEL_VOLUME }, { name: 'net', props: { provides_network: 'True', netvm: '' } }],
      'qemu:///system',
    );
    const xml = await render(app, 'qemu:///system');
    const d = parseXml(xml);
    expect(attr(d, 'type')).toBe('qemu');
    expect([at(d, 'name')?.text, at(d, 'uuid')?.text, at(d, 'memory')?.text, at(d, 'currentMemory')?.text, at(d, 'vcpu')?.text]).toEqual(['test', UUID, '400', '400', '2']);
    expect([attr(at(d, 'os/type'), 'machine'), at(d, 'os/kernel')?.text]).toEqual(['pc', `${base}/vm-kernels/dummy/vmlinuz`]);
    const disks = all(at(d, 'devices')!, 'disk');
    expect(disks.map((x) => [attr(x, 'type'), attr(at(x, 'source'), 'file'), attr(at(x, 'target'), 'dev'), attr(at(x, 'target'), 'bus')])).toEqual([
      ['file', `${base}/pool/appvms/test/root-dirty.img`, 'vda', 'virtio'],
      ['file', `${base}/pool/appvms/test/private-dirty.img`, 'vdb', 'virtio'],
      ['file', `${base}/vm-kernels/dummy/modules.img`, 'vdd', 'virtio'],
    ]);
    expect(at(d, 'devices/console/target')?.attrs).toEqual([['type', 'serial'], ['port', '0']]);
    for (const xenOnly of ['backenddomain', 'script', 'emulator', 'interface', 'hostdev', 'xenpvh', 'cpu mode']) expect(xml).not.toContain(xenOnly);
  });

  test('without an installed kernel the guest boots firmware, from a CD-ROM first (as the Xen template in HVM)', async () => {
    const { app, base } = store([{ props: { virt_mode: 'pvh', kernel: 'dummy' } }], 'qemu:///system');
    fs.rmSync(path.join(base, 'vm-kernels', 'dummy', 'vmlinuz'));
    const d = parseXml(await render(app, 'qemu:///system'));
    expect(names(at(d, 'os')).filter((n) => n !== 'boot')).toEqual(['type']);
    expect(all(at(d, 'os')!, 'boot').map((b) => attr(b, 'dev'))).toEqual(['cdrom', 'hd']);
  });
});

describe('override templates', () => {
  function overrideDir(files: Record<string, string>): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-tpl-'));
    dirs.push(d);
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(d, rel)), { recursive: true });
      fs.writeFileSync(path.join(d, rel), text);
    }
    return d;
  }
  const pvh = () => store([{ props: { virt_mode: 'pvh', kernel: 'dummy', maxmem: '500' } }]).app;

  test('a by-name override replaces one block, keeps the stock content through super(), substitutes properties', async () => {
    const etc = overrideDir({
      'libvirt/xen/by-name/test.xml':
        "{# per-qube tweak #}\n{% extends 'libvirt/xen.xml' %}\n{% block cpu -%}\n  <!-- {{ vm.name }} has {{ vm.vcpus }} vcpus -->\n{{ super() }}{% endblock %}\n{% block on %}  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n{% endblock on %}",
    });
    const xml = await render(pvh(), 'xen:///', { templateDirs: [etc] });
    // `-%}` trims the whitespace after the tag, as in Jinja
    expect(xml).toContain('<vcpu placement="static">2</vcpu>\n<!-- test has 2 vcpus -->\n  <cpu mode="host-passthrough">');
    expect(xml).toContain('<on_reboot>restart</on_reboot>');
    expect(xml).not.toContain('{');
    expect(parseXml(xml).name).toBe('domain');
  });

  test('search order: by-name, then -user, then -dist; /etc before /usr/share; an override may extend another file', async () => {
    const usr = overrideDir({
      'libvirt/xen-dist.xml': "{% extends 'libvirt/xen.xml' %}{% block clock %}  <clock offset=\"localtime\"/>\n{% endblock %}",
      'libvirt/xen-user.xml': "{% extends 'libvirt/xen.xml' %}{% block clock %}  <clock offset=\"usr-user\"/>\n{% endblock %}",
    });
    const etc = overrideDir({
      'libvirt/xen-user.xml': "{% extends 'libvirt/xen-dist.xml' %}{% block on %}<!-- etc user -->\n{{ super() }}{% endblock %}",
    });
    const xml = await render(pvh(), 'xen:///', { templateDirs: [etc, usr] });
    expect(xml).toContain('<clock offset="localtime"/>');
    expect(xml).toContain('<!-- etc user -->\n  <on_poweroff>');
    expect(await render(pvh(), 'xen:///', { templateDirs: [usr] })).toContain('usr-user');
  });

  test('a file without extends is the whole domain XML; values are XML-escaped', async () => {
    const etc = overrideDir({ 'libvirt/xen/by-name/test.xml': '<domain type="xen"><name>{{ vm.name }}</name><description>{{ vm.kernelopts }}</description></domain>\n' });
    const { app } = store([{ props: { virt_mode: 'pvh', kernel: 'dummy', kernelopts: 'a&lt;b&amp;c' } }]);
    expect(await render(app, 'xen:///', { templateDirs: [etc] })).toBe('<domain type="xen"><name>test</name><description>a&lt;b&amp;c</description></domain>\n');
  });

  test('the QEMU flavour has its own files', async () => {
    const etc = overrideDir({ 'libvirt/qemu-user.xml': "{% extends 'libvirt/qemu.xml' %}{% block features %}    <acpi/>\n{% endblock %}" });
    const xml = await render(pvh(), 'qemu:///system', { templateDirs: [etc] });
    expect(xml).toContain('  <features>\n    <acpi/>\n  </features>');
    expect(await render(pvh(), 'xen:///', { templateDirs: [etc] })).toContain('<pae/>');
  });

  test('constructs outside the understood subset are refused with the file named', async () => {
    const cases: [string, string][] = [
      ["{% extends 'libvirt/xen.xml' %}{% block cpu %}{% if vm.debug %}x{% endif %}{% endblock %}", "unsupported template statement '{% if vm.debug %}'"],
      ["{% extends 'libvirt/xen.xml' %}{% block cpu %}{{ vm.name | upper }}{% endblock %}", "unsupported expression '{{ vm.name | upper }}'"],
      ["{% extends 'libvirt/xen.xml' %}{% block cpu %}", 'block cpu is not closed'],
      ["{% extends 'libvirt/other.xml' %}", "extends 'libvirt/other.xml'"],
      ["{% extends 'libvirt/xen.xml' %}{% block cpu %}{{ vm.nonexistent }}{% endblock %}", 'vm.nonexistent'],
    ];
    for (const [text, message] of cases) {
      const etc = overrideDir({ 'libvirt/xen-user.xml': text });
      const p = render(pvh(), 'xen:///', { templateDirs: [etc] });
      await expect(p).rejects.toThrow(QubesError);
      await expect(p).rejects.toThrow(message);
    }
  });
});
