/**
 * Real filesystems for storage tests: a sparse image file formatted as
 * btrfs, XFS or ext4 and loop-mounted (needs root and the mkfs tools;
 * scripts/test.sh installs btrfs-progs and xfsprogs).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lackingRoot, type Lacking } from '../needs.js';

export type FsType = 'btrfs' | 'xfs' | 'ext4';

export interface LoopFs {
  type: FsType;
  /** The mount point. */
  dir: string;
  /** Bytes in use (statfs), to see whether a copy shared its blocks. */
  used(): number;
  unmount(): void;
}

const MKFS: Record<FsType, string[]> = {
  btrfs: ['mkfs.btrfs', '-q'],
  xfs: ['mkfs.xfs', '-q'],
  ext4: ['mkfs.ext4', '-q', '-F'],
};

/** What loop-mounting a filesystem lacks here (test/needs.ts): root. */
export const mountLacking = (): Lacking => ({ machine: lackingRoot() });

export function mountLoopFs(type: FsType, sizeMiB = 1024): LoopFs {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `qubes-${type}-`));
  const image = path.join(work, 'fs.img');
  const dir = path.join(work, 'mnt');
  fs.mkdirSync(dir);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, sizeMiB * 1024 * 1024);
  const [mkfs, ...args] = MKFS[type] as [string, ...string[]];
  execFileSync(mkfs, [...args, image], { stdio: 'pipe' });
  execFileSync('mount', ['-o', 'loop', image, dir], { stdio: 'pipe' });
  return {
    type,
    dir,
    used() {
      const s = fs.statfsSync(dir);
      return (s.blocks - s.bfree) * s.bsize;
    },
    unmount() {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}
