// SPDX-License-Identifier: GPL-2.0-or-later
// qvm-start's drive options through the built command against the system
// libvirtd with QEMU (TCG), as test/vmm/lifecycle-live.test.ts runs qubes:
// `--cdrom=dom0:FILE` gives the domain of that start a read-only CD-ROM on
// a loop device of the file, `--hddisk` a writable disk (of a file, or of a
// block device dom0 exposes), `--drive` both forms, `--install-windows-tools`
// the Windows Tools ISO; the drive is in the domain XML of that start only
// and never in qubes.xml; the loop device made for it goes when the qube
// stops, or at once when the start fails; the refusals of the reference and
// of this build (a path inside another qube, a device nobody exposes).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../helpers.js';
import { describeLacking } from '../needs.js';
import type { LoopFs } from '../storage/loopfs.js';
import { systemLibvirtdFor } from './libvirt-daemons.js';
import { LIVE_URI as URI, makeLiveStore, removeLiveStore, type LiveStore } from './live-store.js';

const lacking = await systemLibvirtdFor({ machine: fs.existsSync('/dev/loop-control') ? [] : ['/dev/loop-control'] });

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', URI, ...args], { encoding: 'utf8' });
const domstate = (name: string) => {
  const r = virsh('domstate', name);
  return r.status === 0 ? r.stdout.trim() : 'undefined';
};
/** The loop devices of a file (`losetup -j`): name, read-only, autoclear. */
const loopsOf = (file: string): { dev: string; ro: boolean; autoclear: boolean }[] =>
  execFileSync('losetup', ['-n', '-l', '-O', 'NAME,RO,AUTOCLEAR,BACK-FILE'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === file)
    .map(([dev, ro, ac]) => ({ dev: dev as string, ro: ro === '1', autoclear: ac === '1' }));

/** `<disk>` elements of the live domain XML as [device, source, target, readonly]. */
function disks(name: string): [string, string, string, boolean][] {
  const xml = virsh('dumpxml', name).stdout;
  return [...xml.matchAll(/<disk type='(\w+)' device='(\w+)'>([^]*?)<\/disk>/g)].map((m) => {
    const body = m[3] as string;
    return [m[2] as string, /<source (?:dev|file)='([^']*)'/.exec(body)?.[1] ?? '', /<target dev='(\w+)'/.exec(body)?.[1] ?? '', body.includes('<readonly/>')];
  });
}

describeLacking(lacking, 'qvm-start drive options on qemu:///system', () => {
  const tag = randomBytes(3).toString('hex');
  const [tpl, work, other] = ['tpl', 'work', 'other'].map((n) => `sd${tag}-${n}`) as [string, string, string];
  let store: LiveStore | undefined;
  let lfs: LoopFs;
  let env: NodeJS.ProcessEnv;
  let iso = '';
  let img = '';
  let stick = '';
  let stickLoop = '';
  const q = (cmd: string, ...args: string[]) => run(cmd, args, env);
  const ok = (cmd: string, ...args: string[]) => {
    const r = q(cmd, ...args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.code} ${r.stderr}`);
    return r.stdout;
  };
  const storeText = () => fs.readFileSync(env.QUBES_XML_PATH as string, 'utf8');
  /** The disks on loop devices: the qube's volumes, which every start has, left out. */
  const drives = (name: string) => disks(name).filter(([, src]) => src.startsWith('/dev/loop'));

  beforeAll(() => {
    ({ lfs, env } = (store = makeLiveStore(1024)));
    const file = (name: string, mib: number) => {
      const f = path.join(lfs.dir, name);
      fs.writeFileSync(f, randomBytes(4096));
      fs.truncateSync(f, mib * 1024 * 1024);
      return f;
    };
    iso = file('install.iso', 2);
    img = file('disk.img', 4);
    stick = file('stick.img', 4);
    stickLoop = execFileSync('losetup', ['-f', '--show', stick], { encoding: 'utf8' }).trim();
    const small = ['--prop', 'memory=128', '--prop', 'maxmem=128', '--prop', 'netvm='];
    ok('qubes-create');
    ok('qvm-create', '-C', 'TemplateVM', tpl, '-l', 'black', ...small);
    ok('qvm-create', work, '-t', tpl, '-l', 'red', ...small);
    ok('qvm-create', other, '-t', tpl, '-l', 'red', ...small);
  });

  afterAll(() => {
    removeLiveStore(undefined, [work, other, tpl]);
    for (const f of [iso, img]) for (const l of f ? loopsOf(f) : []) spawnSync('losetup', ['-d', l.dev]);
    if (stickLoop) spawnSync('losetup', ['-d', stickLoop]);
    removeLiveStore(store, []);
  });

  test('--cdrom=dom0:FILE: a read-only CD-ROM for this start only, its loop device gone when the qube stops', () => {
    const before = storeText();
    expect(q('qvm-start', `--cdrom=dom0:${iso}`, work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(domstate(work)).toBe('running');
    const [loop] = loopsOf(iso);
    expect(loop).toEqual({ dev: expect.stringMatching(/^\/dev\/loop\d+$/), ro: true, autoclear: true });
    expect(drives(work)).toEqual([['cdrom', loop?.dev, expect.stringMatching(/^vd[di]$/), true]]);
    // dom0 lists the device as used by the qube; the store never had the assignment
    const port = path.basename(loop?.dev as string);
    expect(ok('qvm-block', 'list')).toMatch(new RegExp(`^dom0:${port} +.*${iso} +${work} \\(attached: read-only=yes, frontend-dev=xvd[di], devtype=cdrom\\)$`, 'm'));
    expect(storeText()).toBe(before);
    ok('qvm-kill', work);
    expect(loopsOf(iso)).toEqual([]);
    // the next start has no CD-ROM
    ok('qvm-start', work);
    expect(drives(work)).toEqual([]);
    ok('qvm-kill', work);
  });

  test('--hddisk=dom0:FILE and --drive=hd:dom0:FILE: a writable disk; --drive without a prefix: a CD-ROM', () => {
    for (const opt of [`--hddisk=dom0:${img}`, `--drive=hd:dom0:${img}`]) {
      expect(q('qvm-start', opt, work)).toEqual({ code: 0, stdout: '', stderr: '' });
      const [loop] = loopsOf(img);
      expect(loop).toMatchObject({ ro: false, autoclear: true });
      expect(drives(work)).toEqual([['disk', loop?.dev, 'vdi', false]]);
      ok('qvm-kill', work);
      expect(loopsOf(img)).toEqual([]);
    }
    ok('qvm-start', '--drive', `dom0:${iso}`, work);
    expect(drives(work)).toEqual([['cdrom', loopsOf(iso)[0]?.dev, expect.stringMatching(/^vd[di]$/), true]]);
    ok('qvm-kill', work);
  });

  test('--hddisk=dom0:PORT: a block device dom0 exposes, which stays when the qube stops', () => {
    const port = path.basename(stickLoop);
    expect(q('qvm-start', '--hddisk', `dom0:${port}`, work)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(drives(work)).toEqual([['disk', stickLoop, 'vdi', false]]);
    ok('qvm-kill', work);
    expect(loopsOf(stick).map((l) => l.dev)).toEqual([stickLoop]);
  });

  test('--install-windows-tools attaches the Windows Tools ISO as a CD-ROM; a missing one is one line', () => {
    const r = run('qvm-start', ['--install-windows-tools', work], { ...env, QUBES_WINDOWS_TOOLS_ISO: iso });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(drives(work)).toEqual([['cdrom', loopsOf(iso)[0]?.dev, expect.stringMatching(/^vd[di]$/), true]]);
    ok('qvm-kill', work);
    const missing = path.join(lfs.dir, 'qubes-windows-tools.iso');
    expect(run('qvm-start', ['--install-windows-tools', work], { ...env, QUBES_WINDOWS_TOOLS_ISO: missing })).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-start: error: the Qubes Windows Tools ISO ${missing} is missing (install the qubes-windows-tools package)\n`,
    });
    expect(domstate(work)).toBe('shut off');
  });

  test('a start that fails releases the loop device at once; a running qube gets none', () => {
    ok('qvm-features', work, 'prohibit-start', 'testing');
    expect(q('qvm-start', `--cdrom=dom0:${iso}`, work)).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-start: error: Starting qube failed: ${work}: Qube start is prohibited. Rationale: testing\n`,
    });
    expect(loopsOf(iso)).toEqual([]);
    ok('qvm-features', '--unset', work, 'prohibit-start');
    ok('qvm-start', work);
    expect(q('qvm-start', `--cdrom=dom0:${iso}`, work)).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-start: error: Starting qube failed: ${work}: Domain is already running: '${work}'\n`,
    });
    expect(q('qvm-start', '--skip-if-running', `--cdrom=dom0:${iso}`, work).code).toBe(0);
    expect(loopsOf(iso)).toEqual([]);
    expect(drives(work)).toEqual([]);
    ok('qvm-kill', work);
  });

  test('refused: a file dom0 lacks, a path inside another qube, a device nobody exposes, one the qube has assigned', () => {
    const err = (msg: string) => ({ code: 1, stdout: '', stderr: `qvm-start: error: Starting qube failed: ${work}: ${msg}\n` });
    const r = q('qvm-start', '--cdrom', `dom0:${lfs.dir}/nothing.iso`, work);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(new RegExp(`^qvm-start: error: Starting qube failed: ${work}: Failed to setup loop device for ${lfs.dir}/nothing.iso: .*No such file or directory\n$`));
    expect(q('qvm-start', `--cdrom=${other}:/home/user/x.iso`, work)).toEqual(
      err(
        `Cannot set up /home/user/x.iso in ${other}: a loop device in another qube needs qrexec, which this build does not have; name a block device it exposes (${other}:PORT, see qvm-block)`,
      ),
    );
    expect(q('qvm-start', '--hddisk=dom0:nosuchdev', work)).toEqual(err('Block device dom0:nosuchdev not available'));
    expect(q('qvm-start', `--hddisk=${other}:xvdb`, work)).toEqual(err(`Cannot attach ${other}:xvdb: QEMU domains take block devices from dom0 only (no backend domains)`));
    // the port is assigned to the qube already (the reference's assign refuses it)
    const port = path.basename(stickLoop);
    ok('qvm-block', 'assign', '--port', work, `dom0:${port}`);
    expect(q('qvm-start', `--hddisk=dom0:${port}`, work)).toEqual(err(`block device dom0:${port}:* already assigned to ${work}`));
    ok('qvm-block', 'unassign', '--port', work, `dom0:${port}`);
    expect(domstate(work)).not.toBe('running');
  });
});
