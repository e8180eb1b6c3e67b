// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The Xen domain XML (production), block by block as the reference's
 * templates/libvirt/xen.xml with devices/block.xml, net.xml and pci.xml.
 * Qubes' own libvirt accepts every element; upstream libvirt drops a few
 * Qubes extensions (nostrictreset, the stubdomain emulator) and refuses
 * `<graphics type="qubes">`.
 *
 * Reference: qubes-core-admin templates/libvirt/xen.xml (R4.4);
 * shared/spec/vmm.md §2.2, §2.3.
 */
import type { PciHostdev } from './pci-hostdev.js';
import type { XmlNode } from '../../util/xml-writer.js';
import type { DiskParams, DomainParams, HvmParams, NetParams } from './domain-params.js';
import { block, el, lines, type Segment } from './template.js';

const HVMLOADER = 'hvmloader';
const OVMF = '/usr/share/edk2/xen/OVMF.fd';
const STUBDOM_FULL = '/usr/libexec/xen/boot/qemu-stubdom-linux-full';

export function basicElements(p: DomainParams, memory: XmlNode[]): XmlNode[] {
  return [
    el('name', [], p.name),
    el('uuid', [], p.uuid),
    ...memory,
    el('currentMemory', [['unit', 'MiB']], String(p.memoryMiB)),
    el('vcpu', [['placement', 'static']], String(p.vcpus)),
  ];
}

function memoryElements(p: DomainParams): XmlNode[] {
  if ((p.virtMode === 'hvm' && p.pciAssigned) || p.maxmemMiB === 0) return [el('memory', [['unit', 'MiB']], String(p.memoryMiB))];
  if (p.memoryHotplug)
    return [el('memory', [['unit', 'MiB']], String(p.memoryMiB)), el('maxMemory', [['slots', '1'], ['unit', 'MiB']], String(p.maxmemMiB))];
  return [el('memory', [['unit', 'MiB']], String(p.maxmemMiB))];
}

function cpu(p: DomainParams): XmlNode | undefined {
  if (p.virtMode === 'pv') return undefined;
  return el('cpu', [['mode', 'host-passthrough']], [
    // no nested HVM
    el('feature', [['name', 'vmx'], ['policy', 'disable']]),
    el('feature', [['name', 'svm'], ['policy', 'disable']]),
    p.disableRdrand && el('feature', [['name', 'rdrand'], ['policy', 'disable']]),
    el('feature', [['name', 'invtsc'], ['policy', 'require']]),
  ]);
}

function os(p: DomainParams): XmlNode[] {
  const out: XmlNode[] = [];
  if (p.virtMode === 'hvm') {
    const uefi = p.hvm?.uefi;
    out.push(
      el('type', [['arch', 'x86_64'], ['machine', 'xenfv']], 'hvm'),
      el('loader', [['type', uefi ? 'pflash' : 'rom']], uefi ? OVMF : HVMLOADER),
      el('boot', [['dev', 'cdrom']]),
      el('boot', [['dev', 'hd']]),
    );
  } else {
    out.push(p.virtMode === 'pvh' ? el('type', [['arch', 'x86_64'], ['machine', 'xenpvh']], 'xenpvh') : el('type', [['arch', 'x86_64'], ['machine', 'xenpv']], 'linux'));
    out.push(el('kernel', [], p.kernel?.vmlinuz ?? p.pvgrub ?? ''));
    if (p.kernel?.initrd) out.push(el('initrd', [], p.kernel.initrd));
  }
  if (p.kernel) out.push(el('cmdline', [], p.kernel.cmdline));
  return out;
}

function features(p: DomainParams): XmlNode[] {
  const out: XmlNode[] = [];
  if (p.virtMode !== 'pv') out.push(el('pae'), el('acpi'), el('apic'), el('viridian'));
  if (p.e820Host) out.push(el('xen', [], [el('e820_host', [['state', 'on']])]));
  return out;
}

function clock(p: DomainParams): XmlNode {
  if (p.hvm)
    return el('clock', [
      ['offset', 'variable'],
      ['adjustment', p.hvm.timezone.adjustment],
      ['basis', p.hvm.timezone.basis],
    ]);
  return el('clock', [['offset', 'utc'], ['adjustment', 'reset']], [el('timer', [['name', 'tsc'], ['mode', 'native']])]);
}

export const onElements = (): XmlNode[] => ['on_poweroff', 'on_reboot', 'on_crash'].map((n) => el(n, [], 'destroy'));

/** A `<disk>` as templates/libvirt/xen.xml and devices/block.xml write it. */
export function xenDisk(d: DiskParams): XmlNode {
  return el('disk', [['type', 'block'], ['device', d.devtype]], [
    el('driver', [['name', 'phy']]),
    el('source', [['dev', d.path]]),
    el('target', [['dev', d.target]]),
    d.readonly && el('readonly'),
    d.backend !== undefined && el('backenddomain', [['name', d.backend]]),
    d.script !== undefined && el('script', [['path', d.script]]),
  ]);
}

/** The network interface of a qube (templates/libvirt/devices/net.xml), its net qube the backend. */
export function xenInterface(n: NetParams): XmlNode {
  return el('interface', [['type', 'ethernet']], [
    el('mac', [['address', n.mac]]),
    el('ip', [['address', n.ip]]),
    n.ip6 !== undefined && el('ip', [['address', n.ip6], ['family', 'ipv6']]),
    el('backenddomain', [['name', n.backend]]),
    el('script', [['path', 'vif-route-qubes']]),
  ]);
}

function hostdev(d: PciHostdev): XmlNode {
  const attrs: [string, string][] = [['type', 'pci'], ['managed', 'yes']];
  if (d.noStrictReset) attrs.push(['nostrictreset', 'yes']);
  const src: [string, string][] = [];
  if (d.permissive) src.push(['writeFiltering', 'no']);
  if (d.noPowerManagementFiltering) src.push(['powerManagementFiltering', 'no']);
  return el('hostdev', attrs, [
    el('source', src, [el('address', [['domain', d.domain], ['bus', d.bus], ['slot', d.slot], ['function', d.function]])]),
  ]);
}

function hvmDevices(h: HvmParams): XmlNode[] {
  const emu: [string, string][] = [['type', h.linuxStubdom ? 'stubdom-linux' : 'stubdom']];
  if (h.fullStubdom) emu.push(['kernel', `${STUBDOM_FULL}-kernel`], ['ramdisk', `${STUBDOM_FULL}-rootfs`]);
  if (h.cmdline) emu.push(['cmdline', h.cmdline]);
  if (h.stubdomMemKiB !== undefined) emu.push(['memory', String(h.stubdomMemKiB)]);
  const out: XmlNode[] = [el('emulator', emu), el('input', [['type', 'tablet'], ['bus', 'usb']])];
  if (h.audioModel) out.push(el('sound', [['model', h.audioModel]]));
  if (h.videoModel) {
    out.push(el('video', [], [el('model', [['type', h.videoModel]])]));
    if (h.graphics) {
      const g: [string, string][] = [['type', 'qubes']];
      if (h.graphics.domain) g.push(['domain', h.graphics.domain]);
      if (h.graphics.logLevel) g.push(['log_level', h.graphics.logLevel]);
      out.push(el('graphics', g));
    }
  }
  return out;
}

export function xenTemplate(p: DomainParams): Segment[] {
  return [
    '<domain type="xen">\n',
    block('basic', lines(1, ...basicElements(p, memoryElements(p)))),
    block('cpu', lines(1, cpu(p))),
    '  <os>\n',
    block('os', lines(2, ...os(p))),
    '  </os>\n',
    '  <features>\n',
    block('features', lines(2, ...features(p))),
    '  </features>\n',
    block('clock', lines(1, clock(p))),
    block('on', lines(1, ...onElements())),
    '  <devices>\n',
    block(
      'devices',
      lines(2, ...p.disks.map(xenDisk)),
      block('network', lines(2, p.network && xenInterface(p.network))),
      lines(2, ...p.pci.map(hostdev), ...(p.hvm ? hvmDevices(p.hvm) : [])),
      lines(2, el('console', [['type', 'pty']], [el('target', [['type', 'xen'], ['port', '0']])])),
    ),
    '  </devices>\n',
    '</domain>\n',
  ];
}
