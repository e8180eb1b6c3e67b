// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qubes → qubes.xml, in the shape the reference writer produces, so that a
 * store written by the reference loads and saves back byte for byte:
 * labels, pools, properties, domains; dom0 first, then qubes by name; per
 * qube properties (stage 2 then stage 4, each alphabetical), features,
 * tags, devices, volume-config. Elements this version does not know are
 * written back after the known ones.
 *
 * Reference: qubes-core-admin: qubes/app.py Qubes.__xml__,
 * qubes/vm/__init__.py BaseVM.__xml__; shared/spec/store-and-core-tools.md §1.2–1.4.
 */
import type { XmlElement } from '../util/xml-reader.js';
import { serializeXml, type XmlNode } from '../util/xml-writer.js';
import type { PropertyDef } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Qubes } from './app.js';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const rawNode = (el: XmlElement): XmlNode => ({
  name: el.name,
  attrs: el.attrs,
  children: el.children.map(rawNode),
  ...(el.text.trim() !== '' || el.children.length === 0 ? { text: el.text } : {}),
});

function propertiesNode(props: Map<string, string>, defs: ReadonlyMap<string, PropertyDef<any>>): XmlNode {
  const stage = (n: string) => defs.get(n)?.loadStage ?? 2;
  const names = [...props.keys()].sort((a, b) => stage(a) - stage(b) || cmp(a, b));
  return {
    name: 'properties',
    children: names.map((n) => ({ name: 'property', attrs: [['name', n]], text: props.get(n) as string })),
  };
}

function domainNode(vm: QubesVM): XmlNode {
  const children: XmlNode[] = [
    propertiesNode(vm.props, vm.defs),
    { name: 'features', children: vm.features.entries().map(([k, v]) => ({ name: 'feature', attrs: [['name', k]], text: v })) },
    { name: 'tags', children: [...vm.tags.set].map((t) => ({ name: 'tag', attrs: [['name', t]] })) },
  ];
  for (const d of vm.devices) {
    children.push({
      name: 'devices',
      attrs: [['class', d.devclass]],
      children: d.assignments.map((a) => ({
        name: 'device',
        attrs: [
          ['backend-domain', a.backend],
          ['id', a.port],
          ['mode', a.mode],
          ...(a.identity !== undefined ? [['identity', a.identity] as [string, string]] : []),
        ],
        children: a.options.map(([k, v]) => ({ name: 'option', attrs: [['name', k]], text: v })),
      })),
    });
  }
  if (vm.klass !== 'AdminVM') {
    children.push({ name: 'volume-config', children: vm.volumeConfig.map((attrs) => ({ name: 'volume', attrs })) });
  }
  children.push(...vm.extraElements.map(rawNode));
  return { name: 'domain', attrs: [['id', `domain-${vm.qid}`], ['class', vm.klass]], children };
}

export function serializeQubes(app: Qubes): string {
  const vms = app.domains.sorted();
  const dom0 = vms.filter((v) => v.klass === 'AdminVM');
  const root: XmlNode = {
    name: 'qubes',
    children: [
      {
        name: 'labels',
        children: app.labels.all().map((l) => ({ name: 'label', attrs: [['id', `label-${l.index}`], ['color', l.color]], text: l.name })),
      },
      { name: 'pools', children: [...app.pools.values()].map((p) => ({ name: 'pool', attrs: p.attrs })) },
      propertiesNode(app.props, app.defs),
      { name: 'domains', children: [...dom0, ...vms.filter((v) => v.klass !== 'AdminVM')].map(domainNode) },
      ...app.extraElements.map(rawNode),
    ],
  };
  return serializeXml(root);
}
