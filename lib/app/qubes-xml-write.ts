// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qubes → qubes.xml, in the shape the reference writer produces, so that a
 * store written by the reference loads and saves back byte for byte:
 * labels, pools, properties, domains; dom0 first, then qubes by name; per
 * qube properties (stage 2 then stage 4, each alphabetical), features,
 * tags, devices, volume-config. Elements this version does not know are
 * written back after the known ones.
 *
 * The text is built directly (no intermediate tree): saving the 1004-qube
 * store is on the path of every change. Volume configurations nobody looked
 * at are written from their loaded attribute text when that text is
 * already in canonical form.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.__xml__,
 * qubes/vm/__init__.py BaseVM.__xml__; shared/spec/store-and-core-tools.md §1.2–1.4.
 */
import type { XmlElement } from '../util/xml-reader.js';
import { attrText, container, element, escapeAttr, isPlainAttr, serializeXml, type XmlNode } from '../util/xml-writer.js';
import { propertyOrder, type AnyPropertyDef } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { runsHere } from '../vm/vm-properties.js';
import type { Qubes } from './app.js';


/**
 * ` name="value"` pairs with nothing to escape and no character XML 1.0
 * forbids: exactly what the writer would produce.
 */
const CANONICAL_ATTRS_RE = /^(?: [A-Za-z_:][-A-Za-z0-9_:.]*="[^"&<>\n\r\t\u0000-\u001f\ud800-\udfff\ufffe\uffff]*")*$/;

/** ` name="N"` of a property, feature, tag or option. */
const nameAttr = (of: string, n: string) => ` name="${isPlainAttr(n) ? n : escapeAttr(n, () => `the name of a <${of}>`)}"`;

/**
 * An element this version does not know, as loaded. A childless one without
 * text is self-closed, as lxml writes what it parsed from `<a></a>`.
 */
const rawNode = (el: XmlElement): XmlNode => ({
  name: el.name,
  attrs: el.attrs,
  children: el.children.map(rawNode),
  ...(el.text !== '' ? { text: el.text } : {}),
});

const extras = (indent: string, els: XmlElement[]): string => els.map((el) => serializeXml(rawNode(el), indent)).join('');

function properties(indent: string, props: Map<string, string>, defs: ReadonlyMap<string, AnyPropertyDef>): string {
  const names = [...props.keys()].sort(propertyOrder(defs));
  const inner = indent + '  ';
  return container(indent, 'properties', '', names.map((n) => element(inner, 'property', nameAttr('property', n), props.get(n) as string)).join(''));
}

function volumes(indent: string, vm: QubesVM): string {
  const inner = indent + '  ';
  const raw = vm.untouchedVolumeText();
  const lines =
    raw && raw.every((r) => CANONICAL_ATTRS_RE.test(r))
      ? raw.map((r) => `${inner}<volume${r}/>\n`)
      : vm.volumeConfig.map((v) => element(inner, 'volume', attrText(v), undefined));
  return container(indent, 'volume-config', '', lines.join(''));
}

function domain(vm: QubesVM): string {
  const i3 = '      ';
  const i4 = '        ';
  let s = `    <domain id="domain-${vm.qid}" class="${vm.klass}">\n`;
  s += properties(i3, vm.props, vm.defs);
  s += container(i3, 'features', '', vm.features.entries().map(([k, v]) => element(i4, 'feature', nameAttr('feature', k), v)).join(''));
  s += container(i3, 'tags', '', [...vm.tags.set].map((t) => element(i4, 'tag', nameAttr('tag', t), undefined)).join(''));
  for (const d of vm.devices) {
    const devs = d.assignments.map((a) => {
      const head: [string, string][] = [['backend-domain', a.backend], ['id', a.port], ['mode', a.mode], ['identity', a.identity]];
      const opts = a.options.map(([k, v]) => element(i4 + '  ', 'option', nameAttr('option', k), v)).join('');
      return container(i4, 'device', attrText(head), opts);
    });
    s += container(i3, 'devices', ` class="${escapeAttr(d.devclass, () => 'a device class')}"`, devs.join(''));
  }
  if (runsHere(vm.klass)) s += volumes(i3, vm); // dom0 and remote qubes have no volumes
  s += extras(i3, vm.extraElements);
  return s + '    </domain>\n';
}

export function serializeQubes(app: Qubes): string {
  const vms = app.domains.sorted();
  const ordered = [...vms.filter((v) => v.klass === 'AdminVM'), ...vms.filter((v) => v.klass !== 'AdminVM')];
  let s = '<qubes>\n';
  s += container('  ', 'labels', '', app.labels.all().map((l) => element('    ', 'label', ` id="label-${l.index}" color="${escapeAttr(l.color, () => `the colour of label ${l.name}`)}"`, l.name)).join(''));
  s += container('  ', 'pools', '', [...app.pools.values()].map((p) => element('    ', 'pool', attrText(p.attrs), undefined)).join(''));
  s += properties('  ', app.props, app.defs);
  s += container('  ', 'domains', '', ordered.map(domain).join(''));
  s += extras('  ', app.extraElements);
  return s + '</qubes>\n';
}
