// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * dom0's block devices from this machine: a loop device with two
 * partitions, made here with `losetup -P` (and `partx -a` where the kernel
 * has no partition-table parser, as this build host's), is listed as
 * `dom0:loopN`, `dom0:loopNp1`, `dom0:loopNp2` with sizes and identities,
 * and one whose backing file is in an excluded directory is not. Loop
 * devices are detached after.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, tmpStore, type TmpStore } from '../helpers.js';
import { describeLacking, lackingRoot, type Lacking } from '../needs.js';

const MiB = 1024 * 1024;

/** What loop devices need here (test/needs.ts): root and the kernel's loop control, and losetup, which scripts/test.sh installs. */
const loopLacking = (): Lacking => ({
  machine: [...lackingRoot(), ...(fs.existsSync('/dev/loop-control') ? [] : ['/dev/loop-control'])],
  installable: spawnSync('losetup', ['--version']).status === 0 ? [] : ['losetup'],
});

/** An image with an MBR of two 5 MiB partitions at 1 MiB and 6 MiB. */
function makeImage(file: string): void {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, 20 * MiB);
  const mbr = Buffer.alloc(512);
  const entry = (i: number, start: number, count: number) => {
    const o = 446 + 16 * i;
    mbr[o + 4] = 0x83;
    mbr.writeUInt32LE(start, o + 8);
    mbr.writeUInt32LE(count, o + 12);
  };
  entry(0, 2048, 10240);
  entry(1, 12288, 10240);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, mbr, 0, 512, 0);
  fs.closeSync(fd);
}

describeLacking(loopLacking(), 'dom0 loop devices with partitions', () => {
  let dir: string;
  let loop = '';
  let store: TmpStore;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-loop-'));
    store = tmpStore('qubes-xml/q10.xml');
    const img = path.join(dir, 'disk.img');
    makeImage(img);
    loop = execFileSync('losetup', ['-P', '-f', '--show', img], { encoding: 'utf8' }).trim();
    if (!fs.existsSync(`${loop}p1`)) execFileSync('partx', ['-a', loop]);
  });
  afterAll(() => {
    if (loop) spawnSync('losetup', ['-d', loop]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(store.dir, { recursive: true, force: true });
  });

  const name = () => path.basename(loop);

  // An unlabelled partition is described by its parent alone, once (the reference's early return)
  test('listed as dom0:loopN, dom0:loopNp1, dom0:loopNp2', () => {
    const r = run('qvm-block', ['list'], store.env);
    expect(r.code).toBe(0);
    const rows = new Map(r.stdout.trimEnd().split('\n').map((l) => [l.split(/ {2,}/)[0], l.split(/ {2,}/)[1]]));
    const n = name();
    expect(rows.get(`dom0:${n}`)).toBe(`Block_Storage: hosted by dom0 ${path.join(dir, 'disk.img')}`);
    expect(rows.get(`dom0:${n}p1`)).toBe(`sub-device of dom0:${n}`);
    expect(rows.get(`dom0:${n}p2`)).toBe(`sub-device of dom0:${n}`);
  });

  test('each with its size, mode and identity', () => {
    const n = name();
    const num = /(\d+)$/.exec(n)?.[1];
    const info = (p: string) => run('qvm-block', ['info', `dom0:${p}`], store.env).stdout.split('\n');
    expect(info(n)).toEqual(expect.arrayContaining([`device ID: :${num}`, `size: ${20 * MiB}`, 'mode: w']));
    expect(info(`${n}p1`)).toEqual(expect.arrayContaining([`device ID: :${num}:1`, `size: ${5 * MiB}`, 'mode: w']));
    expect(info(`${n}p2`)).toEqual(expect.arrayContaining([`device ID: :${num}:2`, `size: ${5 * MiB}`]));
  });

  test('an assignment of a partition is stored with that identity and listed with -s', () => {
    const n = name();
    const num = /(\d+)$/.exec(n)?.[1];
    const r = run('qvm-block', ['assign', '--ro', 'vm0001', `dom0:${n}p1`], store.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(store.read()).toContain(
      `<device backend-domain="dom0" id="${n}p1" mode="auto-attach" identity=":${num}:1">\n          <option name="read-only">yes</option>\n        </device>`,
    );
    const l = run('qvm-block', ['list', '-s'], store.env);
    expect(l.stdout).toMatch(new RegExp(`^dom0:${n}p1 +:${num}:1 +\\*vm0001 \\(auto-attach: read-only=yes\\)$`, 'm'));
  });

  test('a loop device whose backing file is in an excluded directory is not exposed', () => {
    fs.writeFileSync(path.join(dir, '.qubes-exclude-block-devices'), '');
    try {
      const r = run('qvm-block', ['list'], store.env);
      expect(r.stdout).not.toMatch(new RegExp(`^dom0:${name()} `, 'm'));
      // [quirk] the check reads /sys/block/NAME/loop, which partitions lack: they stay
      expect(r.stdout).toMatch(new RegExp(`^dom0:${name()}p1 `, 'm'));
    } finally {
      fs.rmSync(path.join(dir, '.qubes-exclude-block-devices'));
    }
  });
});
