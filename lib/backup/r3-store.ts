// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The R3.2 qubes.xml inside a format-3 backup (`QubesVmCollection`),
 * converted to an R4 store as the reference's restore does: classes
 * (NetVM/ProxyVM → AppVM providing network, HVM → StandaloneVM or AppVM
 * with virt_mode hvm, template-less AppVM → StandaloneVM), qids → names,
 * default-following values left default, services → features, PCI devices
 * → required assignments, `backup_*` attributes → `backup-*` features. The
 * result is R4 qubes.xml text loaded leniently like any foreign store.
 * Reference: qubesadmin/backup/core2.py; spec backup.md §3.1.
 */
import type { Qubes } from '../app/app.js';
import type { HostFacts } from '../app/load-migrations.js';
import { loadQubesXml } from '../app/qubes-xml-read.js';
import { BackupError } from '../errors.js';
import { parseXml, type XmlElement } from '../util/xml-reader.js';
import { escapeAttr, escapeText } from '../util/xml-writer.js';

const CLASSES: Record<string, string> = {
  QubesAdminVm: 'AdminVM',
  QubesAppVm: 'AppVM',
  QubesTemplateVm: 'TemplateVM',
  QubesNetVm: 'AppVM',
  QubesProxyVm: 'AppVM',
  QubesHVm: 'StandaloneVM',
  QubesTemplateHVm: 'TemplateVM',
};

/** Attributes copied as properties when present (the rest are R3 internals). */
const PLAIN = ['memory', 'maxmem', 'vcpus', 'include_in_backups', 'qrexec_timeout', 'debug', 'default_user', 'autostart', 'backup_timestamp', 'installed_by_rpm'];

/** `{'a': True, 'b': False}` → entries. */
function pythonDict(text: string): [string, boolean][] {
  const out: [string, boolean][] = [];
  for (const m of text.matchAll(/'([^']+)'\s*:\s*(True|False)/g)) out.push([m[1] as string, m[2] === 'True']);
  return out;
}

const pythonList = (text: string): string[] => [...text.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);

/** R4 qubes.xml text for the R3.2 store. */
export function r3ToR4Xml(src: string, host: Qubes): string {
  let root: XmlElement;
  try {
    root = parseXml(src);
  } catch (e) {
    throw new BackupError(`qubes.xml of the backup: ${(e as Error).message}`);
  }
  if (root.name !== 'QubesVmCollection') throw new BackupError('qubes.xml of a format 3 backup is not an R3 store');
  const a = (el: XmlElement, k: string) => el.attrs.find(([n]) => n === k)?.[1];
  const names = new Map<string, string>();
  for (const el of root.children) if (a(el, 'qid') !== undefined) names.set(a(el, 'qid') as string, a(el, 'name') as string);
  const prop = (k: string, v: string) => `        <property name="${k}">${escapeText(v)}</property>\n`;
  let domains = '';
  let id = 0;
  for (const el of root.children) {
    let klass = CLASSES[el.name];
    if (!klass) continue;
    const template = a(el, 'template_qid');
    const hasTemplate = template !== undefined && template !== 'none' && names.has(template);
    if (el.name === 'QubesAppVm' && !hasTemplate) klass = 'StandaloneVM';
    if (el.name === 'QubesHVm' && hasTemplate) klass = 'AppVM';
    let props = '';
    let features = '';
    const feature = (k: string, v: string) => (features += `        <feature name="${escapeAttr(k)}">${escapeText(v)}</feature>\n`);
    if (klass !== 'AdminVM') {
      props += prop('name', a(el, 'name') ?? '');
      props += prop('qid', a(el, 'qid') ?? '');
    }
    props += prop('label', a(el, 'label') ?? 'red');
    for (const k of PLAIN) {
      const v = a(el, k);
      if (v !== undefined && v !== 'None' && !(k === 'maxmem' && v === '0') && !(klass === 'AdminVM' && k !== 'backup_timestamp')) props += prop(k, v);
    }
    if (klass !== 'AdminVM') {
      if (hasTemplate) props += prop('template', names.get(template as string) as string);
      const netvm = a(el, 'netvm_qid');
      if (a(el, 'uses_default_netvm') !== 'True') props += prop('netvm', netvm && netvm !== 'none' ? (names.get(netvm) ?? '') : '');
      if (a(el, 'uses_default_kernel') === 'False' && a(el, 'kernel')) props += prop('kernel', a(el, 'kernel') === 'None' ? '' : (a(el, 'kernel') as string));
      if (a(el, 'uses_default_kernelopts') === 'False' && a(el, 'kernelopts') !== undefined) props += prop('kernelopts', a(el, 'kernelopts') as string);
      if (el.name === 'QubesNetVm' || el.name === 'QubesProxyVm') props += prop('provides_network', 'True');
      if (el.name === 'QubesHVm' || el.name === 'QubesTemplateHVm') {
        props += prop('virt_mode', 'hvm');
        feature('linux-stubdom', '');
      }
      if (a(el, 'internal') === 'True') feature('internal', '1');
      for (const [svc, on] of pythonDict(a(el, 'services') ?? '')) {
        if (svc === 'meminfo-writer') {
          if (!on && !props.includes('name="maxmem"')) props += prop('maxmem', '0');
          else if (!on) props = props.replace(/<property name="maxmem">[^<]*<\/property>/, '<property name="maxmem">0</property>');
          continue;
        }
        feature(svc === 'qubes-update-check' ? 'check-updates' : `service.${svc}`, on ? '1' : '');
      }
    }
    if (a(el, 'backup_content') === 'True') {
      feature('backup-content', '1');
      feature('backup-path', a(el, 'backup_path') ?? '');
      feature('backup-size', a(el, 'backup_size') ?? '0');
    }
    let devices = '';
    const pcis = pythonList(a(el, 'pcidevs') ?? '');
    if (pcis.length && klass !== 'AdminVM')
      devices = `      <devices class="pci">\n${pcis.map((p) => `        <device backend-domain="dom0" id="${escapeAttr(p.replace(':', '_'))}" required="yes"/>\n`).join('')}      </devices>\n`;
    domains += `    <domain id="domain-${id++}" class="${klass}">\n      <properties>\n${props}      </properties>\n      <features>\n${features}      </features>\n      <tags/>\n${devices}    </domain>\n`;
  }
  const labels = host.labels.all().map((l) => `    <label id="label-${l.index}" color="${escapeAttr(l.color)}">${escapeText(l.name)}</label>\n`).join('');
  return `<qubes>\n  <labels>\n${labels}  </labels>\n  <pools/>\n  <properties/>\n  <domains>\n${domains}  </domains>\n</qubes>\n`;
}

export function convertR3Store(src: string, host: Qubes, warn: (m: string) => void, facts: HostFacts = {}): Qubes {
  const warnings: string[] = [];
  const app = loadQubesXml(r3ToR4Xml(src, host), 'qubes.xml of the backup (converted from R3.2)', host.vmm, host.baseDir, warnings, { lenient: true, host: facts });
  for (const w of warnings) warn(w);
  return app;
}
