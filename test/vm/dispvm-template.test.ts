// Preloaded disposables (the preload-dispvm list the system keeps on a
// disposable template): what the core accepts as a new list, and that they
// do not keep template_for_dispvms on (qubes/vm/mix/dvmtemplate.py).
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { checkPreloadFeature, isPreloaded } from '../../lib/vm/dispvm-template.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { vector } from '../helpers.js';

/** q10 with vm0001 a disposable template with disposables d1..d3 and vm0002 one with e1. */
function load() {
  const disp = (name: string, qid: number, tpl: string) =>
    `<domain id="domain-${qid}" class="DispVM"><properties><property name="label">red</property><property name="name">${name}</property>` +
    `<property name="qid">${qid}</property><property name="dispid">${qid}</property><property name="template">${tpl}</property></properties><features/><tags/></domain>`;
  const src = fs
    .readFileSync(vector('qubes-xml/q10.xml'), 'utf8')
    .replace('<property name="name">vm0001</property>', '<property name="name">vm0001</property><property name="template_for_dispvms">True</property>')
    .replace('<property name="name">vm0002</property>', '<property name="name">vm0002</property><property name="template_for_dispvms">True</property>')
    .replace('</domains>', disp('d1', 20, 'vm0001') + disp('d2', 21, 'vm0001') + disp('d3', 22, 'vm0001') + disp('e1', 23, 'vm0002') + '</domains>');
  return loadQubesXml(src, 'q10+', new OfflineVmm(), '/v');
}

describe('preload-dispvm list', () => {
  test('grows only within preload-dispvm-max, names each disposable of this template once', () => {
    const app = load();
    const tpl = app.domains.get('vm0001')!;
    const check = (v: string) => () => checkPreloadFeature(tpl, 'preload-dispvm', v);
    expect(check('d1')).toThrow('Invalid preload-dispvm value: 1 qubes, more than before (0) and than preload-dispvm-max (0)');
    tpl.features.set('preload-dispvm-max', '2');
    expect(check('d1 d2')).not.toThrow();
    expect(check('d1 d2 d3')).toThrow(/3 qubes, more than before \(0\) and than preload-dispvm-max \(2\)/);
    expect(check('d1 d1')).toThrow('Invalid preload-dispvm value: named more than once: d1');
    expect(check('nosuch')).toThrow('Invalid preload-dispvm value: no such qube: nosuch');
    expect(check('e1')).toThrow('Invalid preload-dispvm value: not disposables of vm0001: e1');
    expect(check('')).not.toThrow();
    // a list may stay longer than the maximum while it does not grow
    tpl.features.set('preload-dispvm', 'd1 d2 d3');
    expect(check('d3 d2 d1')).not.toThrow();
    expect(check('d1 d2')).not.toThrow();
    // the global maximum counts for the global default_dispvm
    app.set('default_dispvm', 'vm0001');
    app.adminVm!.features.set('preload-dispvm-max', '4');
    tpl.features.set('preload-dispvm', '');
    expect(check('d1 d2 d3')).not.toThrow();
  });

  test('preloaded disposables are listed by their template and do not keep template_for_dispvms on', () => {
    const app = load();
    const tpl = app.domains.get('vm0001')!;
    tpl.features.map.set('preload-dispvm', 'd1 d2 d3');
    expect(isPreloaded(app.domains.get('d1')!)).toBe(true);
    expect(app.domains.get('d1')!.get('is_preload')).toBe(true);
    expect(app.domains.get('e1')!.get('is_preload')).toBe(false);
    tpl.set('template_for_dispvms', 'False');
    expect(tpl.get('template_for_dispvms')).toBe(false);
    expect(() => app.domains.get('vm0002')!.set('template_for_dispvms', 'False')).toThrow('used as a disposable template by: e1 (template)');
  });
});
