// The `icon` property as the reference computes it (qubes/vm/__init__.py
// BaseVM.icon, appvm.py, adminvm.py): the servicevm feature, which
// provides_network maintains, makes a qube's icon the service-qube icon;
// templates and disposable templates keep the template icon; dom0's is fixed.
import { describe, expect, test } from '@jest/globals';
import { runIn, tmpStore, tmpStoreLocalPools } from '../helpers.js';

const icon = async (env: NodeJS.ProcessEnv, vm: string) => (await runIn('qvm-prefs', [vm, 'icon'], env)).stdout;

describe('icon', () => {
  test('provides_network sets the servicevm feature, which gives the service-qube icon; unsetting it gives the class icon back', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await icon(s.env, 'vm0001')).toBe('appvm-orange\n');
    expect((await runIn('qvm-prefs', ['vm0001', 'provides_network', 'True'], s.env)).code).toBe(0);
    expect((await runIn('qvm-features', ['vm0001', 'servicevm'], s.env)).stdout).toBe('1\n');
    expect(await icon(s.env, 'vm0001')).toBe('servicevm-orange\n');
    expect((await runIn('qvm-ls', ['--raw-data', '-O', 'name,icon', 'vm0001'], s.env)).stdout).toBe('vm0001|servicevm-orange\n');
    expect((await runIn('qvm-prefs', ['vm0001', 'provides_network', 'False'], s.env)).code).toBe(0);
    expect(await icon(s.env, 'vm0001')).toBe('appvm-orange\n');
    // the feature alone decides; an empty value is false
    expect((await runIn('qvm-features', ['vm0001', 'servicevm', '1'], s.env)).code).toBe(0);
    expect(await icon(s.env, 'vm0001')).toBe('servicevm-orange\n');
    expect((await runIn('qvm-features', ['vm0001', 'servicevm', ''], s.env)).code).toBe(0);
    expect(await icon(s.env, 'vm0001')).toBe('appvm-orange\n');
  });

  test('templates and disposable templates (AppVM) keep the template icon; a StandaloneVM one keeps its own; dom0 is adminvm-black', async () => {
    const s = tmpStoreLocalPools('qubes-xml/q10.xml');
    for (const [vm, f] of [['fedora-41', 'servicevm'], ['vm0002', 'servicevm']] as const) expect((await runIn('qvm-features', [vm, f, '1'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['vm0002', 'template_for_dispvms', 'True'], s.env)).code).toBe(0);
    expect(await icon(s.env, 'fedora-41')).toBe('templatevm-black\n');
    expect(await icon(s.env, 'vm0002')).toBe('templatevm-yellow\n');
    expect((await runIn('qvm-create', ['-C', 'StandaloneVM', '-l', 'green', '--prop', 'template_for_dispvms=True', 'sa'], s.env)).code).toBe(0);
    expect(await icon(s.env, 'sa')).toBe('standalonevm-green\n');
    expect((await runIn('qvm-prefs', ['dom0', 'label', 'red'], s.env)).code).toBe(0);
    expect(await icon(s.env, 'dom0')).toBe('adminvm-black\n');
  });
});
