// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A QEMU domain XML for running qubes' lifecycles on an ordinary Linux
 * machine (TCG, no /dev/kvm needed): the same name, UUID, memory and
 * vcpus as the Xen template, a plain PC machine, the qube's kernel when it
 * is installed (else firmware boot, from a CD-ROM first), the volumes as virtio
 * disks, a serial console. Xen-only parts (stubdomain, PCI passthrough,
 * backend domains, block scripts, the Qubes GUI) have no equivalent and
 * are left out; network addresses only go to QubesDB.
 *
 * Always type "qemu": KVM may be visible yet unusable by the daemon's QEMU
 * user (as in containers), and a lifecycle test must not depend on it.
 * maxmem does not apply (no memory balancing off Xen).
 *
 * Reference: qubes-core-admin@88095925 templates/libvirt/kvm.xml (unmerged);
 * shared/spec/vmm.md §2.4.
 */
import fs from 'node:fs';
import type { XmlNode } from '../../util/xml-writer.js';
import type { DiskParams, DomainParams } from './domain-params.js';
import { block, el, lines, type Segment } from './template.js';
import { basicElements, onElements } from './xen.js';

/** xvda → vda: the same letters on the virtio bus. */
const virtioTarget = (xen: string) => xen.replace(/^xvd/, 'vd');

function disk(d: DiskParams): XmlNode {
  const blockDev = fs.statSync(d.path, { throwIfNoEntry: false })?.isBlockDevice() ?? false;
  return el('disk', [['type', blockDev ? 'block' : 'file'], ['device', d.devtype]], [
    el('driver', [['name', 'qemu'], ['type', 'raw']]),
    el('source', [[blockDev ? 'dev' : 'file', d.path]]),
    el('target', [['dev', virtioTarget(d.target)], ['bus', d.devtype === 'cdrom' ? 'sata' : 'virtio']]),
    d.readonly && el('readonly'),
  ]);
}

function os(p: DomainParams): XmlNode[] {
  const out = [el('type', [['arch', 'x86_64'], ['machine', 'pc']], 'hvm')];
  // direct kernel boot only with a kernel that is there (a test store names kernels it does not have)
  if (p.kernel && fs.existsSync(p.kernel.vmlinuz)) {
    out.push(el('kernel', [], p.kernel.vmlinuz));
    if (p.kernel.initrd) out.push(el('initrd', [], p.kernel.initrd));
    out.push(el('cmdline', [], p.kernel.cmdline));
  } else {
    // the firmware tries a CD-ROM first (an install started with qvm-start --cdrom), as the Xen template's HVM
    out.push(el('boot', [['dev', 'cdrom']]), el('boot', [['dev', 'hd']]));
  }
  return out;
}

export function qemuTemplate(p: DomainParams): Segment[] {
  return [
    '<domain type="qemu">\n',
    block('basic', lines(1, ...basicElements(p, [el('memory', [['unit', 'MiB']], String(p.memoryMiB))]))),
    block('cpu', ''),
    '  <os>\n',
    block('os', lines(2, ...os(p))),
    '  </os>\n',
    '  <features>\n',
    // ACPI so that a guest can honour a shutdown request
    block('features', lines(2, el('acpi'), el('apic'))),
    '  </features>\n',
    block('clock', lines(1, el('clock', [['offset', 'utc']]))),
    block('on', lines(1, ...onElements())),
    '  <devices>\n',
    block(
      'devices',
      lines(2, ...p.disks.filter((d) => d.backend === undefined).map(disk)),
      block('network', ''),
      lines(2, el('console', [['type', 'pty']], [el('target', [['type', 'serial'], ['port', '0']])])),
    ),
    '  </devices>\n',
    '</domain>\n',
  ];
}
