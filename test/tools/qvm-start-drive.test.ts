// SPDX-License-Identifier: GPL-2.0-or-later
// qvm-start's drive options refused before anything starts (reference:
// qubesadmin/tools/qvm_start.py, whose four drive options are mutually
// exclusive, and utils.get_drive_assignment): a drive text without
// VMNAME:PATH, an unknown backend qube, two drive options, and a missing
// Windows Tools ISO. Each is one line, and the store is left as it was.
// What a drive does to a start is tested on libvirt in
// test/vmm/start-drive-live.test.ts.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStore } from '../helpers.js';

describe('qvm-start drive options: refusals before any start', () => {
  const s = tmpStore('qubes-xml/q10.xml');
  const before = s.read();
  const start = (...args: string[]) => run('qvm-start', args, s.env);

  test.each([
    [['--cdrom', 'install.iso'], 'Incorrect image name: image must be in the format of VMNAME:full_path, for example dom0:/home/user/test.iso'],
    [['--drive=hd:dom0'], 'Incorrect image name: image must be in the format of VMNAME:full_path, for example dom0:/home/user/test.iso'],
    [['--hddisk', 'dom0:'], 'Incorrect image name: image must be in the format of VMNAME:full_path, for example dom0:/home/user/test.iso'],
    [['--cdrom=nosuchvm:/x.iso'], "no such domain: 'nosuchvm'"],
    [['--drive=cdrom:nosuchvm:sdb'], "no such domain: 'nosuchvm'"],
    // named in the reference's declaration order (--drive, --hddisk, --cdrom, --install-windows-tools), whatever the command line's
    [['--cdrom', 'dom0:/a.iso', '--hddisk', 'dom0:/b.img'], 'argument --cdrom: not allowed with argument --hddisk'],
    [['--drive', 'dom0:/a.iso', '--install-windows-tools'], 'argument --install-windows-tools: not allowed with argument --drive'],
  ])('%j is a usage error', (opts, message) => {
    expect(start(...opts, 'vm0001')).toEqual({ code: 2, stdout: '', stderr: `qvm-start: error: ${message}\n` });
    expect(s.read()).toBe(before);
  });

  test('--install-windows-tools without the ISO: one line, exit 1, nothing started', () => {
    const iso = path.join(s.dir, 'qubes-windows-tools.iso');
    const env = { ...s.env, QUBES_WINDOWS_TOOLS_ISO: iso };
    const r = run('qvm-start', ['--install-windows-tools', 'vm0001', 'vm0002'], env);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `qvm-start: error: the Qubes Windows Tools ISO ${iso} is missing (install the qubes-windows-tools package)\n` });
    expect(s.read()).toBe(before);
    // with the ISO there, the start goes on to the hypervisor (offline here: refused there, per qube)
    fs.writeFileSync(iso, '');
    const r2 = run('qvm-start', ['--install-windows-tools', 'vm0001'], env);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^qvm-start: error: Starting qube failed: vm0001: /);
    expect(r2.stderr).not.toContain('Windows Tools');
  });
});
