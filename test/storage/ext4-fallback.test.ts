// On ext4 (no reflinks): qubes-create picks the `file` driver, adding a
// file-reflink pool is refused unless setup_check=no, and the fallback
// copies keep holes.
import fs from 'node:fs';
import path from 'node:path';
import { describeLacking } from '../needs.js';
import { mountLacking, mountLoopFs, type LoopFs } from './loopfs.js';
import { MiB, sha256, storageEnv, type StorageEnv } from './storage-env.js';

describeLacking(mountLacking(), 'storage on ext4', () => {
  let lfs: LoopFs;
  let s: StorageEnv;

  beforeAll(() => {
    lfs = mountLoopFs('ext4', 512);
    s = storageEnv(lfs.dir);
    s.ok('qubes-create');
  });
  afterAll(() => lfs?.unmount());

  test('qubes-create chooses the file driver', () => {
    expect(s.ok('qvm-pool')).toMatch(/^varlibqubes +file$/m);
  });

  test('the setup check refuses file-reflink; nothing is recorded or left behind', () => {
    const before = fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8');
    const dir = path.join(lfs.dir, 'rl');
    const r = s.q('qvm-pool', 'add', 'rl', 'file-reflink', '-o', `dir_path=${dir}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qvm-pool: error: Failed to add pool rl: The filesystem for '${dir}' does not support reflinks. If you can live with delays on VM startup/shutdown/etc. and wasted disk space, pass the 'setup_check=False' option.\n`,
    );
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toBe(before);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('with setup_check=no the pool works with sparse copies that keep holes', () => {
    const dir = path.join(lfs.dir, 'rl');
    s.ok('qvm-pool', 'add', 'rl', 'file-reflink', '-o', `dir_path=${dir}`, '-o', 'setup_check=no');
    // setup_check is an add-time switch, not saved
    expect(fs.readFileSync(s.env.QUBES_XML_PATH as string, 'utf8')).toContain(
      `<pool name="rl" dir_path="${dir}" driver="file-reflink" revisions_to_keep="1" ephemeral_volatile="False"/>`,
    );
    s.ok('qvm-create', '-C', 'StandaloneVM', '-P', 'rl', 'sa', '-l', 'red');
    // 256 MiB image with 2 MiB of data in two places
    const img = path.join(lfs.dir, 'sparse.img');
    const fd = fs.openSync(img, 'w');
    fs.writeSync(fd, Buffer.alloc(MiB, 0x41), 0, MiB, 0);
    fs.writeSync(fd, Buffer.alloc(MiB, 0x42), 0, MiB, 200 * MiB);
    fs.ftruncateSync(fd, 256 * MiB);
    fs.closeSync(fd);
    s.ok('qvm-volume', 'import', 'sa:root', img);
    s.ok('qvm-clone', 'sa', 'sa2');
    const copy = path.join(dir, 'appvms/sa2/root.img');
    const st = fs.statSync(copy);
    expect(st.size).toBe(256 * MiB);
    expect(st.blocks * 512).toBeLessThan(8 * MiB);
    expect(sha256(copy)).toBe(sha256(img));
  });
});
