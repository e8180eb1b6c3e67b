// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the pools that live in a directory (file, file-reflink) share: the
 * space of the filesystem and which other pool's directory holds theirs.
 * Reference: qubes-core-admin: qubes/storage/file.py, reflink.py,
 * __init__.py search_pool_containing_dir; spec storage.md §3.7.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PoolSpace, StoragePool } from './pool.js';

/** Entries of a directory, sorted; none when it cannot be read. */
export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Size and use of the filesystem holding `dir` ({} when it is missing). */
export function statfsSpace(dir: string): PoolSpace {
  try {
    const s = fs.statfsSync(dir);
    const size = s.bsize * s.blocks;
    const usage = s.bsize * (s.blocks - s.bfree);
    return { size, usage, details: { data_size: size, data_usage: usage } };
  } catch {
    return { details: {} };
  }
}

/** Another directory pool whose directory holds `dir` (reference search_pool_containing_dir). */
export function containingPool(self: StoragePool, dir: string, pools: readonly StoragePool[]): StoragePool | undefined {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const mine = real(dir);
  let best: { pool: StoragePool; len: number } | undefined;
  for (const p of pools) {
    const other = p === self || p.name === self.name ? undefined : p.record.attr('dir_path');
    if (!other || p.driver === 'linux-kernel') continue;
    const o = real(other);
    const rel = path.relative(o, mine);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (!best || o.length > best.len) best = { pool: p, len: o.length };
  }
  return best?.pool;
}
