import fs from 'node:fs';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { applyFeatureRequest } from '../../lib/vm/feature-requests.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { vector } from '../helpers.js';

const load = () => loadQubesXml(fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8'), 'q10', new OfflineVmm(), '/v');

describe('applyFeatureRequest()', () => {
  test('a template cannot override qrexec or gui once the user set them', () => {
    const app = load();
    const tpl = app.domains.get('fedora-41')!;
    tpl.features.set('gui', false);
    applyFeatureRequest(tpl, { qrexec: '1', gui: '1', 'gui-emulated': '0' });
    expect(tpl.features.get('gui')).toBe('');
    expect(tpl.features.get('qrexec')).toBe('1');
    expect(tpl.features.get('gui-emulated')).toBe('');
    // A second request cannot change what the first one set either.
    applyFeatureRequest(tpl, { qrexec: '0' });
    expect(tpl.features.get('qrexec')).toBe('1');
  });

  test('qubes-firewall and vmexec are applied every time', () => {
    const tpl = load().domains.get('fedora-41')!;
    applyFeatureRequest(tpl, { 'qubes-firewall': '1', vmexec: '1' });
    applyFeatureRequest(tpl, { 'qubes-firewall': '0' });
    expect(tpl.features.get('qubes-firewall')).toBe('');
    expect(tpl.features.get('vmexec')).toBe('1');
  });

  test('requests from template-based qubes are ignored, except supported-rpc.*', () => {
    const vm = load().domains.get('vm0001')!;
    const log = applyFeatureRequest(vm, { qrexec: '1', 'supported-service.foo': '1', 'supported-rpc.qubes.Bar': '1' });
    expect(vm.features.has('qrexec')).toBe(false);
    expect(vm.features.has('supported-service.foo')).toBe(false);
    expect(vm.features.get('supported-rpc.qubes.Bar')).toBe('1');
    expect(log.join('\n')).toMatch(/template-based/);
  });

  test('supported-* groups are replaced as a whole; an empty request changes nothing', () => {
    const tpl = load().domains.get('fedora-41')!;
    applyFeatureRequest(tpl, { 'supported-service.a': '1', 'supported-service.b': '1' });
    applyFeatureRequest(tpl, { 'supported-service.b': '1', 'supported-service.c': '1', 'supported-service.d': '0' });
    expect(tpl.features.entries().filter(([k]) => k.startsWith('supported-service.')).map(([k]) => k).sort()).toEqual([
      'supported-service.b',
      'supported-service.c',
    ]);
    applyFeatureRequest(tpl, { 'os-version': '41' });
    expect(tpl.features.has('supported-service.b')).toBe(true);
  });

  test('OS facts are validated', () => {
    const tpl = load().domains.get('fedora-41')!;
    const log = applyFeatureRequest(tpl, {
      'os-distribution': 'fedora',
      'os-version': '41',
      'os-eol': '2025-02-30',
      'qubes-agent-version': '4.3',
    });
    expect(tpl.features.get('os-distribution')).toBe('fedora');
    expect(tpl.features.get('os-version')).toBe('41');
    expect(tpl.features.has('os-eol')).toBe(false);
    expect(tpl.features.get('qubes-agent-version')).toBe('4.3');
    expect(log.join('\n')).toMatch(/os-eol/);
    applyFeatureRequest(tpl, { 'os-version': 'rawhide', 'os-eol': '2025-12-01', 'qubes-agent-version': '4' });
    expect(tpl.features.get('os-version')).toBe('41');
    expect(tpl.features.get('os-eol')).toBe('2025-12-01');
    expect(tpl.features.get('qubes-agent-version')).toBe('4.3');
  });

  test('anon-timezone can be turned on but never off; bad characters are refused', () => {
    const tpl = load().domains.get('fedora-41')!;
    applyFeatureRequest(tpl, { 'anon-timezone': '1' });
    applyFeatureRequest(tpl, { 'anon-timezone': '0' });
    expect(tpl.features.get('anon-timezone')).toBe('1');
    const log = applyFeatureRequest(tpl, { 'os-distribution': 'evil;rm' });
    expect(tpl.features.has('os-distribution')).toBe(false);
    expect(log).toHaveLength(1);
  });

  test('boot-mode.* is replaced as a group, at most 64 entries', () => {
    const tpl = load().domains.get('fedora-41')!;
    applyFeatureRequest(tpl, { 'boot-mode.kernelopts.a': 'x=1', 'boot-mode.name.a': 'A' });
    applyFeatureRequest(tpl, { 'boot-mode.kernelopts.b': 'y=1' });
    expect(tpl.features.entries().filter(([k]) => k.startsWith('boot-mode.'))).toEqual([['boot-mode.kernelopts.b', 'y=1']]);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`boot-mode.name.m${i}`, 'M']));
    applyFeatureRequest(tpl, many);
    expect(tpl.features.has('boot-mode.kernelopts.b')).toBe(true);
  });

  test('boot modes as the reference takes them: names and users only of offered modes, no `default` options, unique names, choices only of known modes', () => {
    const tpl = load().domains.get('fedora-41')!;
    const bootModes = () => tpl.features.entries().filter(([k]) => k.startsWith('boot-mode.'));
    applyFeatureRequest(tpl, {
      'boot-mode.kernelopts.nosmt': 'nosmt=force',
      'boot-mode.name.nosmt': 'No SMT',
      'boot-mode.default-user.nosmt': 'root',
      'boot-mode.kernelopts.default': 'ignored',
      'boot-mode.name.default': 'Default',
      'boot-mode.default-user.default': 'ignored',
      'boot-mode.name.orphan': 'ignored: no options',
      'boot-mode.kernelopts.a.b': 'ignored: too many dots',
      'boot-mode.active': 'nosmt',
      'boot-mode.appvm-default': 'nowhere',
      'boot-mode.standalone-default': 'default',
    });
    expect(bootModes()).toEqual([
      ['boot-mode.kernelopts.nosmt', 'nosmt=force'],
      ['boot-mode.name.nosmt', 'No SMT'],
      ['boot-mode.default-user.nosmt', 'root'],
      ['boot-mode.name.default', 'Default'],
      ['boot-mode.active', 'nosmt'],
      ['boot-mode.standalone-default', 'default'],
    ]);
    // two modes with one name: the whole offer is refused, the choices still apply
    applyFeatureRequest(tpl, { 'boot-mode.kernelopts.x': '1', 'boot-mode.name.x': 'Same', 'boot-mode.kernelopts.y': '2', 'boot-mode.name.y': 'Same', 'boot-mode.appvm-default': 'nosmt' });
    expect(tpl.features.has('boot-mode.kernelopts.x')).toBe(false);
    expect(tpl.features.get('boot-mode.appvm-default')).toBe('nosmt');
    // a qube based on a template asks nothing
    const appvm = load().domains.get('vm0001')!;
    applyFeatureRequest(appvm, { 'boot-mode.kernelopts.z': '1' });
    expect(appvm.features.has('boot-mode.kernelopts.z')).toBe(false);
  });
});
