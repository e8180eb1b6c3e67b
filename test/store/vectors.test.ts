import fs from 'node:fs';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { serializeQubes } from '../../lib/app/qubes-xml-write.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { run, tmpStore, vector } from '../helpers.js';

const REFERENCE_WRITTEN = [
  'qubes-xml/q10.xml',
  'qubes-xml/q100.xml',
  'qubes-xml/q1000.xml',
  'backup-v4/gzip/source-qubes.xml',
  'backup-v4/uncompressed/source-qubes.xml',
];

const load = (rel: string, lenient = false, warnings: string[] = []) =>
  loadQubesXml(fs.readFileSync(vector(rel), 'utf8'), rel, new OfflineVmm(), '/var/lib/qubes', warnings, { lenient });

describe('qubes.xml vectors', () => {
  test.each(REFERENCE_WRITTEN)('%s saves back byte for byte', (rel) => {
    expect(serializeQubes(load(rel))).toBe(fs.readFileSync(vector(rel), 'utf8'));
  });

  test('q1000.xml holds 1004 qubes', () => {
    expect(load('qubes-xml/q1000.xml').domains.size).toBe(1004);
  });

  test.each(REFERENCE_WRITTEN)('%s: a write through the tools and its undo leave the file identical', (rel) => {
    const s = tmpStore(rel);
    const before = s.read();
    expect(run('qvm-features', ['dom0', 'x-roundtrip', '1'], s.env).code).toBe(0);
    expect(s.read()).not.toBe(before);
    expect(run('qvm-features', ['dom0', 'x-roundtrip', '-D'], s.env).code).toBe(0);
    expect(s.read()).toBe(before);
  });

  test('v4-qubes.xml (older writer) loads leniently and keeps its content through save and reload', () => {
    const warnings: string[] = [];
    const app = load('reference-samples/v4-qubes.xml', true, warnings);
    expect(app.domains.size).toBe(20); // 19 qubes and dom0
    expect(warnings.some((w) => w.includes('duplicate qid 10'))).toBe(true);
    // label-N references became names, the old gray colour was migrated
    expect(app.domains.get('test-d8test')?.get('label')).toBe('gray');
    expect(app.labels.get('gray').color).toBe('0x555555');
    expect(app.labels.get('scarlet').index).toBe(9);
    // meminfo-writer feature became maxmem semantics and was dropped
    expect(app.domains.get('test-fedora-25-clone')?.features.has('service.meminfo-writer')).toBe(false);
    const saved = serializeQubes(app);
    const again = loadQubesXml(saved, 'saved', new OfflineVmm(), '/var/lib/qubes');
    expect(serializeQubes(again)).toBe(saved);
    for (const vm of app.domains.all()) {
      const other = again.domains.get(vm.name);
      expect(other?.props).toEqual(vm.props); // same content; the writer orders properties
      expect(other?.features.entries()).toEqual(vm.features.entries());
      expect(other && [...other.tags.set]).toEqual([...vm.tags.set]);
      expect(other?.volumeConfig).toEqual(vm.volumeConfig);
      expect(other?.devices).toEqual(vm.devices);
    }
    // pools of drivers this version does not implement survive
    expect(saved).toContain('<pool driver="lvm_thin" name="lvm" thin_pool="pool3" volume_group="core3"/>');
  });

  test('example-qubes.xml (pre-release format) loads leniently with warnings', () => {
    const warnings: string[] = [];
    const app = load('reference-samples/example-qubes.xml', true, warnings);
    expect(app.adminVm).toBeDefined();
    expect(warnings.some((w) => w.includes("unknown class 'QubesVM'"))).toBe(true);
  });

  test('the R3.2 format is recognised and refused with a clear message', () => {
    expect(() => load('reference-samples/v3-qubes.xml')).toThrow(/R3\.2 store/);
  });

  test('device assignments and unknown elements are written in the reference shape and stable across saves', () => {
    const src = fs
      .readFileSync(vector('qubes-xml/q10.xml'), 'utf8')
      .replace(
        '      <devices class="pci"/>\n',
        '      <devices class="pci">\n' +
          '        <device backend-domain="dom0" id="00_14.3" mode="required" identity="8086:a370::p028000">\n' +
          '          <option name="no-strict-reset">True</option>\n' +
          '        </device>\n' +
          '      </devices>\n',
      )
      .replace('      </volume-config>\n', '      </volume-config>\n      <notes>first line\nsecond line</notes>\n      <extra a="1"/>\n')
      .replace('</qubes>', '  <future>x\n  y</future>\n</qubes>');
    const once = serializeQubes(loadQubesXml(src, 'x', new OfflineVmm(), '/v'));
    expect(once).toBe(src);
    expect(serializeQubes(loadQubesXml(once, 'x', new OfflineVmm(), '/v'))).toBe(src);
  });

  test('load-time migrations: netvm cycles are broken on the cycle only; dispvm references to non-disposable templates are cleared', () => {
    const src = fs
      .readFileSync(vector('qubes-xml/q10.xml'), 'utf8')
      // fedora-41 -> sys-net -> sys-firewall -> sys-net: fedora-41 only leads into the cycle.
      .replace('<property name="uuid">c1f8b66d-a710-4b0c-9883-367817ee5c1b</property>', '<property name="uuid">c1f8b66d-a710-4b0c-9883-367817ee5c1b</property>\n        <property name="netvm">sys-net</property>')
      .replace('<property name="netvm"></property>', '<property name="netvm">sys-firewall</property>')
      .replace('<property name="default_kernel">None</property>', '<property name="default_dispvm">fedora-41</property>\n    <property name="default_kernel">None</property>');
    const warnings: string[] = [];
    const app = loadQubesXml(src, 'x', new OfflineVmm(), '/v', warnings);
    expect(app.domains.get('fedora-41')?.get('netvm')).toBe('sys-net');
    expect(app.domains.get('sys-firewall')?.get('netvm')).toBeNull(); // first cycle member by name
    expect(app.domains.get('sys-net')?.get('netvm')).toBe('sys-firewall');
    expect(warnings).toEqual(['sys-firewall: netvm loop found, setting netvm to none']);
    expect(app.get('default_dispvm')).toBeNull();
  });

  test('unknown properties and elements survive a round trip', () => {
    const src = fs
      .readFileSync(vector('qubes-xml/q10.xml'), 'utf8')
      .replace('<property name="memory">600</property>', '<property name="memory">600</property>\n        <property name="future_prop">x</property>')
      .replace('</domains>', '</domains>\n  <future-root a="1"><x>y</x></future-root>');
    const out = serializeQubes(loadQubesXml(src, 'x', new OfflineVmm(), '/v'));
    expect(out).toContain('<property name="future_prop">x</property>');
    expect(out).toContain('<future-root a="1">\n    <x>y</x>\n  </future-root>');
  });
});
