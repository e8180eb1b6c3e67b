// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The disks of live block attach as XML (spec B5 test_040 for Xen; the
 * QEMU USB-disk variant), the devices read back from a live domain XML
 * (volumes left out, backend, options), the frontend chosen (xvdi first,
 * xvdd for a CD-ROM), and PCI host devices as SBDFs.
 */
import fs from 'node:fs';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { attachedBlockDisks, attachedPciSbdfs, blockDiskXml, unusedFrontend } from '../../lib/devices/libvirt-devices.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { vector } from '../helpers.js';

const app = loadQubesXml(fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8'), 'q.xml', new OfflineVmm(), '/tmp', []);

const domain = (disks: string) => `<domain type="xen"><name>vm0000</name><devices>\n${disks}</devices></domain>`;
const disk = (type: string, dev: string, target: string, extra = '', device = 'disk') =>
  `<disk type="${type}" device="${device}"><driver name="phy"/><source ${type === 'block' ? 'dev' : 'file'}="${dev}"/><target dev="${target}"/>${extra}</disk>\n`;

describe('block disk XML', () => {
  test('Xen: phy driver, source node, target, readonly; dom0 gets the block script', () => {
    expect(blockDiskXml(app, 'xen', { backend: 'dom0', portId: 'sda' }, [['read-only', 'yes'], ['frontend-dev', 'xvdi']])).toBe(
      '<disk type="block" device="disk">\n  <driver name="phy"/>\n  <source dev="/dev/sda"/>\n  <target dev="xvdi"/>\n  <readonly/>\n  <script path="/etc/xen/scripts/qubes-block"/>\n</disk>\n',
    );
  });

  test('Xen: another backend is named; its script only from agent 4.2 on; `_` in a port is `/`', () => {
    const opts: [string, string][] = [['read-only', 'no'], ['frontend-dev', 'xvdj'], ['devtype', 'cdrom']];
    const xml = blockDiskXml(app, 'xen', { backend: 'sys-net', portId: 'mapper_dm0' }, opts);
    expect(xml).toBe(
      '<disk type="block" device="cdrom">\n  <driver name="phy"/>\n  <source dev="/dev/mapper/dm0"/>\n  <target dev="xvdj"/>\n  <backenddomain name="sys-net"/>\n</disk>\n',
    );
    app.domains.get('sys-net')?.features.set('qubes-agent-version', '4.2');
    expect(blockDiskXml(app, 'xen', { backend: 'sys-net', portId: 'sdb' }, opts)).toContain('<script path="/etc/xen/scripts/qubes-block"/>');
  });

  test('QEMU: a USB disk with the same letters', () => {
    expect(blockDiskXml(app, 'qemu', { backend: 'dom0', portId: 'loop3' }, [['read-only', 'no'], ['frontend-dev', 'xvdi']])).toBe(
      '<disk type="block" device="disk">\n  <driver name="qemu" type="raw"/>\n  <source dev="/dev/loop3"/>\n  <target dev="sdi" bus="usb"/>\n</disk>\n',
    );
  });
});

describe('devices in a live domain XML', () => {
  const xml = domain(
    disk('block', '/dev/vg/root', 'xvda') +
      disk('file', '/var/lib/qubes/appvms/x/private.img', 'xvdb') +
      disk('block', '/dev/vg/kernel', 'xvdd') +
      disk('block', '/dev/sdb1', 'xvdi', '<readonly/><backenddomain name="sys-usb"/>') +
      disk('block', '/dev/mapper/stick', 'xvdj', '', 'cdrom'),
  );

  test('block: volumes left out (xvdd too with a dom0 kernel); backend, port and options', () => {
    expect(attachedBlockDisks(xml, false)).toEqual([
      { backend: 'dom0', portId: 'vg_kernel', options: [['read-only', 'no'], ['frontend-dev', 'xvdd']] },
      { backend: 'sys-usb', portId: 'sdb1', options: [['read-only', 'yes'], ['frontend-dev', 'xvdi']] },
      { backend: 'dom0', portId: 'mapper_stick', options: [['read-only', 'no'], ['frontend-dev', 'xvdj'], ['devtype', 'cdrom']] },
    ]);
    expect(attachedBlockDisks(xml, true).map((d) => d.portId)).toEqual(['sdb1', 'mapper_stick']);
  });

  test('QEMU targets read as Xen frontends', () => {
    const q = domain(disk('block', '/dev/loop1', 'vda') + disk('block', '/dev/loop2', 'sdk', '<readonly/>'));
    expect(attachedBlockDisks(q, false)).toEqual([{ backend: 'dom0', portId: 'loop2', options: [['read-only', 'yes'], ['frontend-dev', 'xvdk']] }]);
    expect(unusedFrontend(q, 'disk')).toBe('xvdi');
  });

  test('frontend: first free of xvdi…xvdz, then xvda…xvdh; xvdd first for a CD-ROM when free', () => {
    expect(unusedFrontend(xml, 'disk')).toBe('xvdk');
    expect(unusedFrontend(domain(disk('block', '/dev/a', 'xvda')), 'cdrom')).toBe('xvdd');
    expect(unusedFrontend(xml, 'cdrom')).toBe('xvdk');
    const all = [...'ijklmnopqrstuvwxyzabcdefg'].map((c) => disk('block', `/dev/x${c}`, `xvd${c}`)).join('');
    expect(unusedFrontend(domain(all), 'disk')).toBe('xvdh');
    expect(unusedFrontend(domain(all + disk('block', '/dev/xh', 'xvdh')), 'disk')).toBeUndefined();
  });

  test('PCI host devices as SBDFs', () => {
    const h = domain(
      '<hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0x0000" bus="0x00" slot="0x14" function="0x0"/></source></hostdev>\n' +
        '<hostdev mode="subsystem" type="usb"><source><vendor id="0x1"/></source></hostdev>\n',
    );
    expect(attachedPciSbdfs(h)).toEqual(['0000:00:14.0']);
  });
});
