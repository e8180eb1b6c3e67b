// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices in a running qube's libvirt domain XML: the `<disk>` a live block
 * attach adds (and detach names), the frontend it gets, and the devices
 * read back from the live XML (block disks from dom0's point of view, PCI
 * host devices). Pure: XML text in, XML text or values out.
 *
 * Xen: devices/block.xml of the reference (driver `phy`, the backend domain
 * unless dom0, the block script; shared with the start template through
 * domain-params.ts deviceDisk). QEMU (`qemu://`, for running qubes on an
 * ordinary Linux): a USB disk (`sdX` target) of the default USB controller,
 * because a USB device leaves at once on detach, whereas a virtio disk waits
 * for the guest to release it (and the test qubes boot nothing). QEMU
 * targets are read back under the Xen frontend name with the same letters
 * (`vdi`, `sdi` → `xvdi`), so frontends are chosen and reported alike.
 *
 * Reference: qubes-core-admin: qubes/ext/block.py (on_device_list_attached,
 * find_unused_frontend, _try_get_block_device_info), templates/libvirt/
 * devices/block.xml, qubes/ext/pci.py; shared/spec/firewall-and-devices.md
 * B5, B7; storage.md §1.3.
 */
import type { Qubes } from '../app/app.js';
import { attr, parseXml, type XmlElement } from '../util/xml-reader.js';
import { serializeXml } from '../util/xml-writer.js';
import { deviceDisk } from '../vmm/domain-xml/domain-params.js';
import { el } from '../vmm/domain-xml/template.js';
import type { Flavour } from '../vmm/domain-xml/template-override.js';
import { xenDisk } from '../vmm/domain-xml/xen.js';
import type { Options } from './options.js';

/** Frontends for attached devices, xvdi first (block.py AVAILABLE_FRONTENDS). */
const AVAILABLE_FRONTENDS = [...'ijklmnopqrstuvwxyzabcdefgh'].map((c) => `xvd${c}`);
/** The volumes' frontends; xvdd too when the qube boots a dom0 kernel. */
const systemDisks = (kernel: boolean) => (kernel ? ['xvda', 'xvdb', 'xvdc', 'xvdd'] : ['xvda', 'xvdb', 'xvdc']);

/** A QEMU target under its Xen frontend name. */
const frontendName = (target: string): string => target.replace(/^(vd|sd)/, 'xvd');
/** The QEMU USB-disk target of a frontend (`xvdi` → `sdi`; `sdX` as given). */
const qemuTarget = (frontend: string): string => frontend.replace(/^xvd/, 'sd');

const child = (e: XmlElement, name: string) => e.children.find((c) => c.name === name);
const option = (o: Options, name: string) => o.find(([k]) => k === name)?.[1];

function disks(domainXml: string): XmlElement[] {
  const devices = child(parseXml(domainXml), 'devices');
  return devices ? devices.children.filter((c) => c.name === 'disk') : [];
}

export interface LiveBlockDisk {
  backend: string;
  portId: string;
  /** read-only, frontend-dev, and devtype when not `disk` (block.py on_device_list_attached). */
  options: Options;
}

/** Block devices attached to the domain, its own volumes left out. */
export function attachedBlockDisks(domainXml: string, kernel: boolean): LiveBlockDisk[] {
  const system = systemDisks(kernel);
  const out: LiveBlockDisk[] = [];
  for (const d of disks(domainXml)) {
    if (attr(d, 'type') !== 'block') continue;
    const dev = (() => {
      const s = child(d, 'source');
      return s && attr(s, 'dev');
    })();
    const t = child(d, 'target');
    const target = t && attr(t, 'dev');
    if (!dev || !target) continue;
    const frontend = frontendName(target);
    if (system.includes(frontend)) continue;
    const b = child(d, 'backenddomain');
    const options: Options = [
      ['read-only', child(d, 'readonly') ? 'yes' : 'no'],
      ['frontend-dev', frontend],
    ];
    const devtype = attr(d, 'device');
    if (devtype && devtype !== 'disk') options.push(['devtype', devtype]);
    out.push({
      backend: (b && attr(b, 'name')) || 'dom0',
      portId: (dev.startsWith('/dev/') ? dev.slice(5) : dev).replace(/\//g, '_'),
      options,
    });
  }
  return out;
}

/**
 * The first frontend no disk of the domain uses (xvdd first for a CD-ROM
 * when free); undefined when all are taken.
 */
export function unusedFrontend(domainXml: string, devtype: string): string | undefined {
  const used = new Set(
    disks(domainXml)
      .map((d) => child(d, 'target'))
      .map((t) => t && attr(t, 'dev'))
      .filter((t): t is string => Boolean(t))
      .map(frontendName),
  );
  if (devtype === 'cdrom' && !used.has('xvdd')) return 'xvdd';
  return AVAILABLE_FRONTENDS.find((f) => !used.has(f));
}

/** The `<disk>` of a block device with its (complete) attach options. */
export function blockDiskXml(app: Qubes, flavour: Flavour, port: { backend: string; portId: string }, options: Options): string {
  const devtype = option(options, 'devtype') ?? 'disk';
  const frontend = option(options, 'frontend-dev') as string;
  const disk = deviceDisk(app, port, devtype, frontend, option(options, 'read-only') === 'yes');
  if (flavour === 'xen') return serializeXml(xenDisk(disk));
  return serializeXml(
    el('disk', [['type', 'block'], ['device', devtype]], [
      el('driver', [['name', 'qemu'], ['type', 'raw']]),
      el('source', [['dev', disk.path]]),
      el('target', [['dev', qemuTarget(frontend)], ['bus', 'usb']]),
      disk.readonly && el('readonly'),
    ]),
  );
}

/** PCI host devices of the domain as SBDFs (`0000:00:14.0`). */
export function attachedPciSbdfs(domainXml: string): string[] {
  const devices = child(parseXml(domainXml), 'devices');
  const out: string[] = [];
  for (const h of devices?.children ?? []) {
    if (h.name !== 'hostdev' || attr(h, 'type') !== 'pci') continue;
    const src = child(h, 'source');
    const a = src && child(src, 'address');
    if (!a) continue;
    const hex = (n: string, w: number) => (parseInt(attr(a, n) ?? '0', 16) || 0).toString(16).padStart(w, '0');
    out.push(`${hex('domain', 4)}:${hex('bus', 2)}:${hex('slot', 2)}.${parseInt(attr(a, 'function') ?? '0', 16) || 0}`);
  }
  return out;
}
