// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where an image file has data, as the filesystem knows it (SEEK_DATA /
 * SEEK_HOLE), so a mostly empty 100 GiB volume is not read byte by byte.
 * Node has no lseek; GNU tar (which the reference uses for file-pool
 * volumes, and which the emergency restore needs anyway) scans holes that
 * way and writes the map first in a pax sparse 1.0 archive, so the map is
 * read from the start of its output and tar is stopped there. Block devices,
 * and files tar does not treat as sparse, are one extent.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ByteSource } from './byte-source.js';
import { TarReader } from './tar-reader.js';
import type { SparseMap } from './tar-writer.js';
const { spawn } = childProcess;

/** Allocated extents of `file` (offset, length), covering at least its data; whole file when unknown. */
export async function dataExtents(file: string, size: number): Promise<SparseMap> {
  const whole: SparseMap = size > 0 ? [[0, size]] : [];
  const st = fs.statSync(file);
  if (!st.isFile() || size === 0 || st.size !== size) return whole;
  if (st.blocks * 512 >= size) return whole;
  const child = spawn('tar', ['--sparse', '--format=posix', '--sparse-version=1.0', '-cf', '-', '-C', path.dirname(file), '--', path.basename(file)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = new Promise<void>((r) => {
    child.on('close', () => r());
    child.on('error', () => r());
  });
  try {
    const reader = new TarReader(new ByteSource(child.stdout as AsyncIterable<Buffer>), { what: 'hole scan' });
    const e = await reader.next();
    if (!e || !e.sparse || e.size !== size) return whole;
    return e.sparse.filter(([, l]) => l > 0);
  } catch {
    return whole;
  } finally {
    child.kill('SIGKILL');
    child.stdout.destroy();
    await exited;
  }
}
