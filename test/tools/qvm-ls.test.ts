import fs from 'node:fs';
import path from 'node:path';
import { runIn, tmpStore } from '../helpers.js';

const names = (out: string) => out.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);

describe('qvm-ls', () => {
  test('default listing of q10: header, dom0 and qubes in name order', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', [], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('NAME          STATE    CLASS       LABEL   TEMPLATE   NETVM');
    expect(lines[1]).toBe('dom0          Running  AdminVM     black   -          -');
    expect(lines[2]).toBe('fedora-41     Halted   TemplateVM  black   -          -');
    expect(lines[3]).toBe('sys-firewall  Halted   AppVM       green   fedora-41  sys-net');
    expect(lines[4]).toBe('sys-net       Halted   AppVM       red     fedora-41  -');
    expect(lines[6]).toBe('vm0001        Halted   AppVM       orange  fedora-41  sys-firewall');
    expect(lines).toHaveLength(16); // header + 14 qubes + final newline
    expect(lines[15]).toBe('');
  });

  test('--raw-list prints names only; wildcards select in name order', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-ls', ['--raw-list', 'vm000[3-5]', 'dom0'], s.env)).stdout).toBe('dom0\nvm0003\nvm0004\nvm0005\n');
    expect((await runIn('qvm-ls', ['--raw-list', 'sys-*'], s.env)).stdout).toBe('sys-firewall\nsys-net\n');
    expect((await runIn('qvm-ls', ['--raw-list', '????'], s.env)).stdout).toBe('dom0\n');
    expect((await runIn('qvm-ls', ['--raw-list', 'zz*'], s.env)).stdout).toBe('');
  });

  test('--raw-data joins the --fields cells with | and no header', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['--raw-data', '--fields=name,class,template', 'sys-net', 'dom0'], s.env);
    expect(r.stdout).toBe('dom0|AdminVM|-\nsys-net|AppVM|fedora-41\n');
  });

  test('a tag filter matching nothing prints the header only', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['--tags', 'nx'], s.env);
    expect(r).toEqual({ code: 0, stdout: 'NAME  STATE  CLASS  LABEL  TEMPLATE  NETVM\n', stderr: '' });
    const t = await runIn('qvm-ls', ['--tags', 'bulk-import', '--raw-list'], s.env);
    expect(t.stdout.trim().split('\n')).toEqual(['vm0000', 'vm0001', 'vm0002', 'vm0003', 'vm0004', 'vm0005', 'vm0006', 'vm0007', 'vm0008', 'vm0009']);
  });

  test('--sort on a numeric column sorts as integers, `-` as 0, stable under --reverse', async () => {
    const s = tmpStore('qubes-xml/q100.xml');
    const byQid = names((await runIn('qvm-ls', ['-O', 'name,qid', '--sort', 'QID'], s.env)).stdout);
    expect(byQid.slice(0, 3)).toEqual(['dom0', 'fedora-41', 'sys-net']);
    expect(byQid.indexOf('vm0005')).toBeLessThan(byQid.indexOf('vm0006')); // qid 9 before qid 10
    // offline every MEMORY cell is '-', so every key is 0: name order stays, even reversed
    const q10 = tmpStore('qubes-xml/q10.xml');
    const mem = (await runIn('qvm-ls', ['-O', 'name,memory', '--sort', 'MEMORY', '--reverse'], q10.env)).stdout;
    expect(mem.split('\n')[0]).toBe('NAME          MEMORY');
    expect(names(mem)).toEqual(names((await runIn('qvm-ls', [], q10.env)).stdout));
    expect(names((await runIn('qvm-ls', ['--sort', 'NAME', '--reverse'], q10.env)).stdout)[0]).toBe('vm0009');
  });

  test('disk columns read image sizes from file pools, and sort numerically', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const pool = path.join(s.dir, 'pool');
    fs.writeFileSync(s.xml, s.read().replace('dir_path="/var/lib/qubes"', `dir_path="${pool}"`));
    const mk = (vm: string, mib: number) => {
      fs.mkdirSync(path.join(pool, 'appvms', vm), { recursive: true });
      fs.writeFileSync(path.join(pool, 'appvms', vm, 'private.img'), Buffer.alloc(mib * 1024 * 1024, 1));
    };
    mk('vm0001', 3);
    mk('vm0002', 12);
    const r = await runIn('qvm-ls', ['-O', 'name,priv-curr,priv-max,priv-used,priv-pool', '--sort', 'PRIV-CURR', '--reverse', 'vm000[0-3]'], s.env);
    expect(r.stdout).toBe(
      'NAME    PRIV-CURR  PRIV-MAX  PRIV-USED  PRIV-POOL\n' +
        'vm0002  12         2048      0%         varlibqubes\n' +
        'vm0001  3          2048      0%         varlibqubes\n' +
        'vm0000  0          2048      0%         varlibqubes\n' +
        'vm0003  0          2048      0%         varlibqubes\n',
    );
  });

  test('--tree nests qubes under their netvm', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const lines = (await runIn('qvm-ls', ['--tree'], s.env)).stdout.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      'NAME            STATE    CLASS       LABEL   TEMPLATE   NETVM',
      'dom0            Running  AdminVM     black   -          -',
      'fedora-41       Halted   TemplateVM  black   -          -',
      'sys-net         Halted   AppVM       red     fedora-41  -',
      '└─sys-firewall  Halted   AppVM       green   fedora-41  sys-net',
      '  └─vm0000      Halted   AppVM       red     fedora-41  sys-firewall',
    ]);
    expect(lines).toHaveLength(16);
  });

  test('--format json is an array of objects keyed by column head, null where the table shows -', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const r = await runIn('qvm-ls', ['--format', 'json', 'dom0', 'vm0001'], s.env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { NAME: 'dom0', STATE: 'Running', CLASS: 'AdminVM', LABEL: 'black', TEMPLATE: null, NETVM: null },
      { NAME: 'vm0001', STATE: 'Halted', CLASS: 'AppVM', LABEL: 'orange', TEMPLATE: 'fedora-41', NETVM: 'sys-firewall' },
    ]);
    const f = JSON.parse((await runIn('qvm-ls', ['-o', 'json', '-O', 'name,ip', 'vm0000'], s.env)).stdout);
    expect(f).toEqual([{ NAME: 'vm0000', IP: '10.137.0.4' }]);
  });

  test('property fields: virt_mode and virt-mode give VIRT-MODE; unknown properties print -', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const out = (await runIn('qvm-ls', ['-O', 'name,virt_mode,class', 'dom0', 'vm0000'], s.env)).stdout;
    expect(out).toBe('NAME    VIRT-MODE  CLASS\ndom0    -          AdminVM\nvm0000  pvh        AppVM\n');
    expect((await runIn('qvm-ls', ['-O', 'name,virt-mode,no_such_prop', 'vm0000'], s.env)).stdout).toBe(
      'NAME    VIRT-MODE  NO-SUCH-PROP\nvm0000  pvh        -\n',
    );
    expect((await runIn('qvm-ls', ['-O', 'name,flags', 'dom0', 'sys-net', 'vm0000'], s.env)).stdout).toBe(
      'NAME     FLAGS\ndom0     0rU-----\nsys-net  a--N----\nvm0000   a-------\n',
    );
  });

  test('filters: class, netvm-is, features, prefs, power state', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const list = async (...a: string[]) => (await runIn('qvm-ls', ['--raw-list', ...a], s.env)).stdout.trim().split('\n');
    expect(await list('--class', 'TemplateVM', 'AdminVM')).toEqual(['dom0', 'fedora-41']);
    expect(await list('--netvm-is', 'sys-net')).toEqual(['sys-firewall']);
    expect(await list('--netvm-is', '', '--class', 'AppVM')).toEqual(['sys-net']);
    expect(await list('--prefs', 'provides_network=True')).toEqual(['sys-firewall', 'sys-net']);
    expect(await list('--features', 'service.cups=1', '--label', 'red')).toEqual(['vm0000', 'vm0008']);
    expect(await list('--running')).toEqual(['dom0']);
    const bad = await runIn('qvm-ls', ['--features', 'nokey'], s.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('qvm-ls: error: Invalid argument: --features nokey\n');
  });

  test('usage errors exit 2 with one line', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const ex = await runIn('qvm-ls', ['--exclude', 'vm0001'], s.env);
    expect(ex).toEqual({ code: 2, stdout: '', stderr: 'qvm-ls: error: --exclude can only be used with --all\n' });
    const nf = await runIn('qvm-ls', ['vm0001', 'nope'], s.env);
    expect(nf.code).toBe(2);
    expect(nf.stdout).toBe('');
    expect(nf.stderr).toBe("qvm-ls: error: no such domain: 'nope'\n");
    const two = await runIn('qvm-ls', ['-d', '-n'], s.env);
    expect(two.code).toBe(2);
    expect(two.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('--all --exclude leaves the excluded qubes out and keeps dom0', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const out = (await runIn('qvm-ls', ['--all', '--exclude', 'vm0001', '--exclude', 'fedora-41', '--raw-list'], s.env)).stdout;
    expect(out.split('\n').slice(0, 3)).toEqual(['dom0', 'sys-firewall', 'sys-net']);
    expect(out).not.toContain('vm0001');
    expect(out.trim().split('\n')).toHaveLength(12);
  });

  test('--help-formats lists the formats', async () => {
    const r = await runIn('qvm-ls', ['--help-formats'], tmpStore().env);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Available formats:');
    expect(lines).toContain('  simple   NAME,STATE,CLASS,LABEL,TEMPLATE,NETVM');
    expect(lines).toContain('  network  NAME,STATE,NETVM,IP,IPBACK,GATEWAY');
    expect(r.stdout.endsWith('\n\n')).toBe(true);
  });

  test('the 1004-qube store lists every qube', async () => {
    const s = tmpStore('qubes-xml/q1000.xml');
    const r = await runIn('qvm-ls', [], s.env);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1005);
    expect(lines[0]).toMatch(/^NAME +STATE +CLASS +LABEL +TEMPLATE +NETVM$/);
  });
});
