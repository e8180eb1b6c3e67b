// Boot modes (qubes-core-admin qubes/vm/qubesvm.py _default_bootmode,
// templatevm.py appvm_default_bootmode): the `bootmode` property follows the
// boot-mode.* features of the qube and its template, through the commands
// and on a store as the reference writes it.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { runIn, tmpStore, tmpStoreLocalPools } from '../helpers.js';

const get = async (env: NodeJS.ProcessEnv, vm: string, p: string) => (await runIn('qvm-prefs', [vm, p], env)).stdout;
const feature = async (env: NodeJS.ProcessEnv, vm: string, f: string, v: string) => expect(await runIn('qvm-features', [vm, f, v], env)).toEqual({ code: 0, stdout: '', stderr: '' });

describe('bootmode', () => {
  test("defaults to boot-mode.active, else the template's appvm default, each only with kernel options", async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(await get(s.env, 'vm0001', 'bootmode')).toBe('default\n');
    await feature(s.env, 'fedora-41', 'boot-mode.appvm-default', 'nosmt');
    // a mode without kernel options does not count
    expect(await get(s.env, 'fedora-41', 'appvm_default_bootmode')).toBe('nosmt\n');
    expect(await get(s.env, 'vm0001', 'bootmode')).toBe('default\n');
    await feature(s.env, 'fedora-41', 'boot-mode.kernelopts.nosmt', 'nosmt=force');
    expect(await get(s.env, 'vm0001', 'bootmode')).toBe('nosmt\n');
    expect((await runIn('qvm-ls', ['--raw-data', '-O', 'name,bootmode', 'fedora-41', 'vm0001'], s.env)).stdout).toBe('fedora-41|default\nvm0001|nosmt\n');
    // the qube's own active mode wins, when it has options (here: inherited from the template)
    await feature(s.env, 'fedora-41', 'boot-mode.kernelopts.debug', 'debug');
    await feature(s.env, 'vm0001', 'boot-mode.active', 'debug');
    expect(await get(s.env, 'vm0001', 'bootmode')).toBe('debug\n');
    await feature(s.env, 'vm0001', 'boot-mode.active', 'default');
    expect(await get(s.env, 'vm0001', 'bootmode')).toBe('default\n');
    // an explicit appvm_default_bootmode on the template, and an explicit bootmode
    expect((await runIn('qvm-features', ['vm0001', 'boot-mode.active', '-D'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['fedora-41', 'appvm_default_bootmode', 'debug'], s.env)).code).toBe(0);
    expect(await get(s.env, 'vm0002', 'bootmode')).toBe('debug\n');
    expect((await runIn('qvm-prefs', ['vm0002', 'bootmode', 'anything'], s.env)).code).toBe(0);
    expect((await runIn('qvm-prefs', ['--hide-default', 'vm0002'], s.env)).stdout).toMatch(/^bootmode +- +anything$/m);
    expect((await runIn('qvm-prefs', ['vm0002', 'bootmode', '--default'], s.env)).code).toBe(0);
    expect(await get(s.env, 'vm0002', 'bootmode')).toBe('debug\n');
  });

  test('a StandaloneVM that gets its root from a template boots in the boot-mode.standalone-default it copied', async () => {
    const s = tmpStoreLocalPools('qubes-xml/q10.xml');
    const root = path.join(s.dir, 'vm-templates/fedora-41/root.img');
    fs.mkdirSync(path.dirname(root), { recursive: true });
    fs.writeFileSync(root, 'template root');
    fs.writeFileSync(path.join(s.dir, 'vm-templates/fedora-41/private.img'), 'template private');
    await feature(s.env, 'fedora-41', 'boot-mode.kernelopts.desktop', 'quiet splash');
    await feature(s.env, 'fedora-41', 'boot-mode.standalone-default', 'desktop');
    expect(await runIn('qvm-create', ['--standalone', '-t', 'fedora-41', '-l', 'green', 'sa'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await runIn('qvm-features', ['sa', 'boot-mode.active'], s.env)).stdout).toBe('desktop\n');
    expect(await get(s.env, 'sa', 'bootmode')).toBe('desktop\n');
    // a mode the standalone has no options for is not taken
    await feature(s.env, 'fedora-41', 'boot-mode.standalone-default', 'nowhere');
    expect((await runIn('qvm-clone', ['-C', 'StandaloneVM', 'fedora-41', 'sa2'], s.env)).code).toBe(0);
    expect((await runIn('qvm-features', ['sa2', 'boot-mode.active'], s.env)).code).toBe(1);
  });
});
