import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

const store = (): TmpStore => tmpStoreLocalPools('qubes-xml/q10.xml');

/** A private image for a q10 qube, as a real installation would have. */
function image(s: TmpStore, vm: string): string {
  const dir = path.join(s.dir, 'appvms', vm);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'private.img'), 'data');
  return dir;
}

const has = (s: TmpStore, vm: string) => s.read().includes(`<property name="name">${vm}</property>`);

describe('qvm-remove', () => {
  test('-f removes the qube and its image directory', () => {
    const s = store();
    const dir = image(s, 'vm0001');
    const r = run('qvm-remove', ['-f', 'vm0001'], s.env);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(has(s, 'vm0001')).toBe(false);
    expect(has(s, 'vm0002')).toBe(true);
    expect(fs.existsSync(dir)).toBe(false);
    expect(run('qvm-features', ['vm0001'], s.env).code).toBe(2);
  });

  test('asks for confirmation: y removes, anything else cancels', () => {
    const s = store();
    const r = run('qvm-remove', ['vm0001', 'vm0002'], s.env, 'y\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('  vm0001\n  vm0002\nAre you sure? [y/N] ');
    expect(r.stderr).toBe('This will completely remove the selected VM(s)...\n');
    expect(has(s, 'vm0001') || has(s, 'vm0002')).toBe(false);

    const before = s.read();
    for (const answer of ['n\n', '', 'yes\n']) {
      const c = run('qvm-remove', ['vm0003'], s.env, answer);
      expect(c.code).toBe(1);
      expect(c.stdout).toBe('  vm0003\nAre you sure? [y/N] Remove cancelled.\n');
    }
    expect(s.read()).toBe(before);
  });

  test('a template in use is refused with the list of its users', () => {
    const s = store();
    const before = s.read();
    const r = run('qvm-remove', ['-f', 'fedora-41'], s.env);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('VM fedora-41 cannot be removed. It is in use as:');
    expect(lines).toContain(' - global property default_template');
    expect(lines).toContain(' - template for sys-firewall');
    expect(lines).toContain(' - template for vm0009');
    expect(lines.filter((l) => l.startsWith(' - template for '))).toHaveLength(12);
    expect(r.stderr).toBe("qvm-remove: error: Domain is in use: 'fedora-41'\n");
    expect(s.read()).toBe(before);
  });

  test('the default netvm is refused (global property), and its own netvm by its property', () => {
    const s = store();
    const before = s.read();
    const r = run('qvm-remove', ['-f', 'sys-firewall'], s.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('VM sys-firewall cannot be removed. It is in use as:\n - global property default_netvm\n');
    const n = run('qvm-remove', ['-f', 'sys-net'], s.env);
    expect(n.code).toBe(1);
    expect(n.stdout).toBe('VM sys-net cannot be removed. It is in use as:\n - netvm for sys-firewall\n');
    expect(s.read()).toBe(before);
  });

  test('the first failure stops; earlier qubes stay removed, later ones untouched', () => {
    const s = store();
    const r = run('qvm-remove', ['-f', 'vm0001', 'fedora-41', 'vm0002'], s.env);
    expect(r.code).toBe(1);
    expect(has(s, 'vm0001')).toBe(false);
    expect(has(s, 'fedora-41')).toBe(true);
    expect(has(s, 'vm0002')).toBe(true);
  });

  test('dom0, --all confirmation and usage errors', () => {
    const s = store();
    const before = s.read();
    expect(run('qvm-remove', ['-f', 'dom0'], s.env)).toEqual({ code: 1, stdout: '', stderr: "qvm-remove: error: Domain 'dom0' cannot be removed.\n" });
    const all = run('qvm-remove', ['--all'], s.env, 'yes\n');
    expect(all.code).toBe(1);
    expect(all.stdout).toBe('Are you certain? [N/IKNOWWHATIAMDOING]Remove cancelled.\n');
    expect(all.stderr).toMatch(/^WARNING: /);
    expect(run('qvm-remove', ['--exclude', 'vm0001', 'vm0002'], s.env).code).toBe(2);
    expect(run('qvm-remove', [], s.env).code).toBe(2);
    expect(run('qvm-remove', ['-f', 'nosuch'], s.env)).toEqual({ code: 2, stdout: '', stderr: "qvm-remove: error: no such domain: 'nosuch'\n" });
    expect(s.read()).toBe(before);
  });

  test('wildcards select qubes', () => {
    const s = store();
    const r = run('qvm-remove', ['vm000[1-3]'], s.env, 'y\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('  vm0001\n  vm0002\n  vm0003\nAre you sure? [y/N] ');
    expect(['vm0001', 'vm0002', 'vm0003'].some((v) => has(s, v))).toBe(false);
    expect(has(s, 'vm0004')).toBe(true);
  });

  test('--all with --exclude skips the extra question and keeps dom0', () => {
    const s = store();
    const args = ['--all', '--exclude', 'fedora-41', '--exclude', 'sys-firewall', '--exclude', 'sys-net'];
    const r = run('qvm-remove', args, s.env, 'y\n');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Are you certain');
    expect(r.stdout.split('\n').filter((l) => l.startsWith('  '))).toHaveLength(10);
    const names = [...s.read().matchAll(/<property name="name">([^<]*)<\/property>/g)].map((m) => m[1]);
    expect(names.sort()).toEqual(['fedora-41', 'sys-firewall', 'sys-net']);
    expect(s.read()).toContain('class="AdminVM"');
  });
});
