// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A running qube's network interface in libvirt, for a change of its net
 * qube: the `<interface type='ethernet'>` element of its live domain XML
 * (what a detach names), and the element an attach adds for its new net
 * qube. Pure: XML text in and out.
 *
 * Only Xen domains have one: the QEMU template (qemu.ts) gives a qube no
 * network device, so there a net qube change has nothing to detach or
 * attach in libvirt.
 *
 * Reference: qubes-core-admin: qubes/vm/mix/net.py (attach_network,
 * detach_network), templates/libvirt/devices/net.xml.
 */
import { parseXml, type XmlElement } from '../../util/xml-reader.js';
import { serializeXml, type XmlNode } from '../../util/xml-writer.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { networkOf } from './domain-params.js';
import type { Flavour } from './template-override.js';
import { xenInterface } from './xen.js';

/** A parsed element as written again (elements without text stay empty). */
const node = (e: XmlElement): XmlNode => ({ name: e.name, attrs: e.attrs, children: e.children.map(node), text: e.text || undefined });

/** The domain's ethernet interface as XML, if it has one. */
export function liveInterfaceXml(domainXml: string): string | undefined {
  const devices = parseXml(domainXml).children.find((c) => c.name === 'devices');
  const eth = devices?.children.find((c) => c.name === 'interface' && c.attrs.some(([k, v]) => k === 'type' && v === 'ethernet'));
  return eth && serializeXml(node(eth));
}

/** The interface a qube's domain gets for its net qube (undefined: none, or a QEMU domain). */
export function interfaceXml(vm: QubesVM, flavour: Flavour): string | undefined {
  const net = networkOf(vm);
  return net && flavour === 'xen' ? serializeXml(xenInterface(net)) : undefined;
}
