// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The generated bash completion, run in a real bash against a copy of the
 * q10 vector store (completions/qubes-tools.bash must be current:
 * gen-docs.test.ts checks that).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStore, type TmpStore } from '../helpers.js';
import { COMPLETION, completeLine, q } from './complete-line.js';

const has = (cmd: string) => fs.existsSync(path.join(ROOT, 'lib', 'tools', `${cmd}.ts`));

let store: TmpStore;
beforeAll(() => {
  store = tmpStore('qubes-xml/q10.xml');
});
afterAll(() => {
  fs.rmSync(store.dir, { recursive: true, force: true });
});

/** Complete `line` against the q10 store (see completeLine). */
const complete = (line: string, extraEnv: NodeJS.ProcessEnv = {}): string[] => completeLine(line, { ...store.env, QUBES_XML_PATH: store.xml, ...extraEnv });

const LABELS = ['red', 'orange', 'yellow', 'green', 'gray', 'blue', 'purple', 'black'];

describe('bash completion', () => {
  test('every bash completion function is registered by command name', () => {
    const text = fs.readFileSync(COMPLETION, 'utf8');
    expect(text).toMatch(/^complete -F _qubes_tools_qvm_prefs qvm-prefs$/m);
  });

  test('qube names by prefix', () => {
    expect(complete('qvm-prefs sys-').sort()).toEqual(['sys-firewall', 'sys-net']);
  });

  test('dom0 is offered as a qube name', () => {
    expect(complete('qvm-prefs dom')).toEqual(['dom0']);
  });

  test('qube property names', () => {
    expect(complete('qvm-prefs vm0001 netv')).toEqual(['netvm']);
  });

  test('label values are the labels of the store', () => {
    expect(complete('qvm-prefs vm0001 label ').sort()).toEqual([...LABELS].sort());
  });

  test('choices of virt_mode', () => {
    expect(complete('qvm-prefs vm0001 virt_mode ').sort()).toEqual(['hvm', 'pv', 'pvh']);
  });

  test("'-' for '_' in a property name", () => {
    expect(complete('qvm-prefs vm0001 virt-mode p').sort()).toEqual(['pv', 'pvh']);
  });

  test('bool values', () => {
    expect(complete('qvm-prefs vm0001 debug ')).toEqual(['True', 'False']);
  });

  test('qube-valued property offers qube names', () => {
    expect(complete('qvm-prefs vm0001 netvm sys-').sort()).toEqual(['sys-firewall', 'sys-net']);
  });

  test('options of qvm-prefs, including the common ones', () => {
    const r = complete('qvm-prefs --');
    expect(r).toEqual(expect.arrayContaining(['--help-properties', '--offline-mode', '--verbose', '--help']));
    expect(r).not.toContain('--force-root');
  });

  test('options do not count as positionals', () => {
    expect(complete('qvm-prefs --hide-default vm0001 netv')).toEqual(['netvm']);
  });

  test('global property names and values', () => {
    expect(complete('qubes-prefs default_n')).toEqual(['default_netvm']);
    expect(complete('qubes-prefs default_netvm sys-').sort()).toEqual(['sys-firewall', 'sys-net']);
  });

  (has('qvm-create') ? test : test.skip)('qvm-create -l: labels', () => {
    expect(complete('qvm-create -l ').sort()).toEqual([...LABELS].sort());
  });

  (has('qvm-create') ? test : test.skip)('qvm-create --class: classes', () => {
    expect(complete('qvm-create --class ').sort()).toEqual(['AppVM', 'DispVM', 'StandaloneVM', 'TemplateVM']);
  });

  test('qvm-tags command words', () => {
    expect(complete('qvm-tags vm0001 ')).toEqual(['list', 'ls', 'l', 'add', 'a', 'set', 'del', 'd', 'unset', 'u']);
  });

  test('qvm-tags tags from the store', () => {
    expect(complete('qvm-tags vm0001 del guivm')).toEqual(['guivm-dom0']);
  });

  (has('qvm-ls') ? test : test.skip)('qvm-ls options', () => {
    expect(complete('qvm-ls --')).toContain('--raw-list');
  });

  (has('qvm-ls') ? test : test.skip)('qvm-ls option values: choices, variadic, comma lists', () => {
    expect(complete('qvm-ls --internal ')).toEqual(['y', 'yes', 'n', 'no']);
    expect(complete('qvm-ls --class AppVM Disp')).toEqual(['DispVM']);
    expect(complete('qvm-ls --label=r')).toEqual(['red']);
    expect(complete('qvm-ls -O NAME,ST')).toEqual(['NAME,STATE']);
    expect(complete('qvm-ls --raw-list sys-f')).toEqual(['sys-firewall']);
  });

  test('qvm-ls -O and --sort offer every built-in column', () => {
    for (const c of ['FLAGS', 'TAGS', 'MEMORY', 'PRIV-POOL', 'ROOT-POOL']) {
      expect(complete(`qvm-ls -O NAME,${c}`)).toEqual([`NAME,${c}`]);
      expect(complete(`qvm-ls --sort ${c}`)).toEqual([c]);
    }
  });

  test('qvm-firewall: command words, rule keywords, actions, protocols, special targets', () => {
    expect(complete('qvm-firewall vm0001 ')).toEqual(['list', 'add', 'del', 'reset']);
    expect(complete('qvm-firewall vm0001 add ')).toEqual([
      ...['accept', 'drop', 'tcp', 'udp', 'icmp'],
      ...['action=', 'dsthost=', 'proto=', 'dstports=', 'icmptype=', 'specialtarget=', 'comment=', 'expire=', 'dst4=', 'dst6='],
    ]);
    expect(complete('qvm-firewall vm0001 add acc')).toEqual(['accept']);
    expect(complete('qvm-firewall vm0001 add accept spec')).toEqual(['specialtarget=']);
    expect(complete('qvm-firewall vm0001 add accept proto=')).toEqual(['tcp', 'udp', 'icmp']);
    expect(complete('qvm-firewall vm0001 add accept proto=u')).toEqual(['udp']);
    expect(complete('qvm-firewall vm0001 del action=')).toEqual(['accept', 'drop']);
    expect(complete('qvm-firewall vm0001 add specialtarget=')).toEqual(['dns']);
    expect(complete('qvm-firewall vm0001 add dsthost=')).toEqual([]);
    expect(complete('qvm-firewall vm0001 add --be')).toEqual(['--before']);
  });

  test('qvm-pool: command words, pools, drivers', () => {
    expect(complete('qvm-pool ')).toEqual(['list', 'l', 'ls', 'drivers', 'd', 'info', 'i', 'add', 'a', 'remove', 'r', 'rm', 'set', 's']);
    expect(complete('qvm-pool info ')).toEqual(['linux-kernel', 'varlibqubes']);
    expect(complete('qvm-pool add new f')).toEqual(['file', 'file-reflink']);
    expect(complete('qvm-pool add new ')).toEqual(['callback', 'file', 'file-reflink', 'linux-kernel', 'lvm_thin', 'zfs']);
    expect(complete('qvm-pool remove varlibqubes ')).toEqual(['linux-kernel', 'varlibqubes']);
    expect(complete('qvm-pool add new file -')).toContain('--option');
  });

  test('qvm-volume: QUBE:VOLUME pairs (bash splits them at the colon), then the next argument', () => {
    expect(complete('qvm-volume info vm0001')).toEqual(['vm0001:kernel', 'vm0001:private', 'vm0001:root', 'vm0001:volatile']);
    // "vm0001:" and "vm0001:pr" reach the function as vm0001 : and vm0001 : pr
    const split = (line: string) => line.replace(/(\S):(\S*)$/, '$1 : $2').replace(/:$/, ': ');
    expect(complete(split('qvm-volume info vm0001:'))).toEqual(['kernel', 'private', 'root', 'volatile']);
    expect(complete(split('qvm-volume info vm0001:pr'))).toEqual(['private']);
    expect(complete('qvm-volume resize -f vm0001 : private ')).toEqual([]);
    expect(complete('qvm-volume clone vm0001 : private vm00')).toContain('vm0002:private');
    expect(complete('qvm-volume list --pool ')).toEqual(['linux-kernel', 'varlibqubes']);
  });

  test('qvm-features feature names', () => {
    expect(complete('qvm-features vm0001 ')).toContain('service.cups');
  });

  test('qvm-service service names', () => {
    expect(complete('qvm-service vm0001 ')).toContain('cups');
  });

  test('qvm-device: classes, command words, option names, qubes, and devices from a live listing', () => {
    const live = { PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}`, QUBES_SYSFS_ROOT: fs.mkdtempSync(path.join(store.dir, 'sys-')) };
    const pci = path.join(live.QUBES_SYSFS_ROOT, 'devices', 'pci0000:00', '0000:00:14.0');
    fs.mkdirSync(pci, { recursive: true });
    fs.mkdirSync(path.join(live.QUBES_SYSFS_ROOT, 'bus', 'pci', 'devices'), { recursive: true });
    for (const [f, v] of [['vendor', '0x8086'], ['device', '0xa0ed'], ['class', '0x0c0330']]) fs.writeFileSync(path.join(pci, f as string), `${v}\n`);
    fs.symlinkSync('../../../devices/pci0000:00/0000:00:14.0', path.join(live.QUBES_SYSFS_ROOT, 'bus', 'pci', 'devices', '0000:00:14.0'));
    expect(complete('qvm-device p')).toEqual(['pci']);
    expect(complete('qvm-device pci as')).toEqual(['assign']);
    expect(complete('qvm-pci attach -o no-')).toEqual(['no-strict-reset=True']);
    expect(complete('qvm-pci attach vm000')).toContain('vm0001');
    expect(complete('qvm-pci attach vm0001 dom0:', live)).toEqual(['dom0:00_14.0']);
    expect(complete('qvm-device pci info d', live)).toEqual(['dom0:00_14.0']);
  });

  test('a missing store completes nothing and does not fail', () => {
    const r = spawnSync(
      'bash',
      ['--norc', '-c', `source ${q(COMPLETION)}; COMP_WORDS=(qvm-prefs '') COMP_CWORD=1; _qubes_tools_qvm_prefs; printf '%s\\n' "\${COMPREPLY[@]}"`],
      { env: { ...process.env, QUBES_XML_PATH: path.join(store.dir, 'nonexistent.xml') }, encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('dom0');
  });
});
