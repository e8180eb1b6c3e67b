// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where `qvm-backup` writes: `-` is standard output; an existing directory
 * gets a new file `qubes-YYYY-MM-DDTHHMMSS` (local time); anything else is
 * the file itself, whose directory must exist. A backup including dom0's
 * home may not be written inside that home.
 * Reference: qubes-core-admin: qubes/backup.py (backup_do, the target
 * file); spec backup.md §2.10, §2.11.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupError } from '../errors.js';

export function backupFileName(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `qubes-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}T${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

/** The file to create, or '-' for standard output. */
export function backupTarget(location: string, cwd: string, home: string | undefined, now = new Date()): string {
  if (location === '-') return '-';
  const abs = path.resolve(cwd, location);
  let file: string;
  if (fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory()) file = path.join(abs, backupFileName(now));
  else {
    if (!fs.statSync(path.dirname(abs), { throwIfNoEntry: false })?.isDirectory())
      throw new BackupError(`the backup directory for ${abs} does not exist`);
    file = abs;
  }
  if (home !== undefined) {
    const h = path.resolve(home);
    const real = (p: string) => {
      try {
        return fs.realpathSync(p);
      } catch {
        return p;
      }
    };
    const rel = path.relative(real(h), path.join(real(path.dirname(file)), path.basename(file)));
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) throw new BackupError('Can not backup dom0 home directory to itself!');
  }
  return file;
}
