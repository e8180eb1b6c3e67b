// SPDX-License-Identifier: GPL-2.0-or-later
// Non-persistent block attach to a running qube through the built commands,
// against the system libvirtd with QEMU (TCG): a loop device of dom0 made
// here is attached with `qvm-block attach`, seen in the domain by `virsh
// domblklist` and as used by the qube in `qvm-block list`, detached again;
// the reference's refusals (already attached, not attached, qube not
// running, PCI to a running qube). Volumes live on a loop-mounted XFS as in
// test/vmm/lifecycle-live.test.ts; the qube boots nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import type { LoopFs } from '../storage/loopfs.js';
import { systemLibvirtdFor } from '../vmm/libvirt-daemons.js';
import { LIVE_URI as URI, makeLiveStore, removeLiveStore, type LiveStore } from '../vmm/live-store.js';

const lacking = await systemLibvirtdFor({ machine: fs.existsSync('/dev/loop-control') ? [] : ['/dev/loop-control'] });

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', URI, ...args], { encoding: 'utf8' });
/** `virsh domblklist` as target → source. */
const blklist = (name: string): Map<string, string> =>
  new Map(
    virsh('domblklist', name)
      .stdout.split('\n')
      .slice(2)
      .map((l) => l.trim().split(/\s+/))
      .filter((f): f is [string, string] => f.length === 2),
  );

describeLacking(lacking, 'live block attach on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, work, off, usbvm] = ['tpl', 'work', 'off', 'usb'].map((n) => `da${tag}-${n}`) as [string, string, string, string];
  let store: LiveStore | undefined;
  let lfs: LoopFs;
  let env: NodeJS.ProcessEnv;
  let loop = '';
  let port = '';
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  const listLine = () => ok('qvm-block', 'list').split('\n').find((l) => l.startsWith(`dom0:${port} `));

  beforeAll(() => {
    ({ lfs, env } = (store = makeLiveStore(1024)));
    const img = path.join(lfs.dir, 'stick.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 8 * 1024 * 1024);
    loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
    port = path.basename(loop);
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128', '--prop', 'netvm='];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', ...small);
    ok('qvm-create', off, '-t', tpl, '-l', 'red', ...small);
    ok('qvm-create', usbvm, '-t', tpl, '-l', 'red', ...small);
    ok('qvm-start', work, usbvm);
  });

  afterAll(() => {
    removeLiveStore(undefined, [work, usbvm, off, tpl]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    removeLiveStore(store, []);
  });

  test('attach puts the device into the running domain; list shows who uses it; detach takes it out', () => {
    expect(listLine()).toMatch(new RegExp(`^dom0:${port} +\\S.*${path.join(lfs.dir, 'stick.img')}\\s*$`));
    expect(q('qvm-block', 'attach', work, `dom0:${port}`)).toEqual({ code: 0, stdout: '', stderr: '' });
    // the first free frontend, xvdi, is sdi on the QEMU domain's USB bus
    expect(blklist(work).get('sdi')).toBe(loop);
    expect(listLine()).toMatch(new RegExp(`  ${work} \\(attached: read-only=no, frontend-dev=xvdi\\)$`));
    expect(q('qvm-block', 'attach', work, `dom0:${port}`)).toMatchObject({
      code: 1,
      stderr: `qvm-block: error: device dom0:${port} of class block already attached to ${work}\n`,
    });
    expect(q('qvm-block', 'detach', work, `dom0:${port}`)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect([...blklist(work).values()]).not.toContain(loop);
    expect(listLine()).not.toContain(work);
    expect(q('qvm-block', 'detach', work, `dom0:${port}`)).toMatchObject({ code: 1, stderr: `qvm-block: error: block device ${port} not attached to ${work}\n` });
  });

  test('read-only and a chosen frontend reach the domain XML', () => {
    ok('qvm-block', 'attach', '--ro', '-o', 'frontend-dev=xvdk', work, `dom0:${port}`);
    const xml = virsh('dumpxml', work).stdout;
    expect(xml).toMatch(new RegExp(`<source dev='${loop}'[^]*?<target dev='sdk' bus='usb'/>[^]*?<readonly/>`));
    expect(listLine()).toMatch(new RegExp(`  ${work} \\(attached: read-only=yes, frontend-dev=xvdk\\)$`));
    ok('qvm-block', 'detach', work);
    expect([...blklist(work).values()]).not.toContain(loop);
  });

  test("another qube's devices come from its QubesDB, and only while it runs", () => {
    // what the qube's udev scripts would publish
    ok('qubesdb-write', '-d', usbvm, '/qubes-block-devices/sdb/desc', 'SanDisk (LABEL)', '/qubes-block-devices/sdb/size', '1048576', '/qubes-block-devices/sdb/mode', 'r');
    ok('qubesdb-write', '-d', usbvm, '/qubes-usb-devices/1-1/desc', '0781:5581 SanDisk Ultra 01234', '/qubes-usb-devices/1-1/usb-ver', '2', '/qubes-usb-devices/1-1/interfaces', ':080650:');
    expect(ok('qvm-block', 'list', usbvm)).toBe(`${usbvm}:sdb  Block_Storage: hosted by ${usbvm} LABEL  \n`);
    expect(ok('qvm-usb', 'list', usbvm)).toMatch(new RegExp(`^${usbvm}:1-1 +\\S.*\n$`));
    // a device of another backend cannot reach a QEMU domain; USB needs qrexec
    expect(q('qvm-block', 'attach', work, `${usbvm}:sdb`)).toMatchObject({
      code: 1,
      stderr: `qvm-block: error: Cannot attach ${usbvm}:sdb: QEMU domains take block devices from dom0 only (no backend domains)\n`,
    });
    expect(q('qvm-usb', 'attach', work, `${usbvm}:1-1`)).toMatchObject({
      code: 1,
      stderr: `qvm-usb: error: Cannot attach usb device ${usbvm}:1-1: usb devices are attached through qrexec (usbip), which this build does not have\n`,
    });
    ok('qvm-kill', usbvm);
    expect(ok('qvm-block', 'list', usbvm)).toBe('');
  });

  test('a halted qube, PCI to a running qube, and USB are refused', () => {
    expect(q('qvm-block', 'attach', off, `dom0:${port}`)).toMatchObject({
      code: 1,
      stderr: 'qvm-block: error: VM not running, cannot attach device, do you mean `assign`?\n',
    });
    // any PCI device of this machine on the root bus (its port is BB_DD.F)
    const pci = (fs.existsSync('/sys/bus/pci/devices') ? fs.readdirSync('/sys/bus/pci/devices') : []).find((d) => d.startsWith('0000:00:'));
    if (pci)
      expect(q('qvm-pci', 'attach', work, `dom0:${pci.slice(5).replace(':', '_')}`)).toMatchObject({
        code: 1,
        stderr: 'qvm-pci: error: PCI devices cannot be attached manually, did you mean `qvm-pci assign --required ...`\n',
      });
    expect(q('qvm-block', 'attach', work, 'dom0:nosuchdev')).toMatchObject({
      code: 1,
      stderr: "qvm-block: error: backend vm dom0 doesn't expose block device 'nosuchdev'\n",
    });
    expect(q('qvm-block', 'detach', off, `dom0:${port}`)).toMatchObject({ code: 1, stderr: `qvm-block: error: block device ${port} not attached to ${off}\n` });
  });
});
