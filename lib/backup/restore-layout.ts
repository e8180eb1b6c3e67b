// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The layout of a backup for its restore: the files each planned qube
 * must have in the archive (volumes, firewall, notes, format 3's directory
 * archive and menu list) and which archive files are read at all.
 *
 * Reference: qubesadmin/backup/restore.py (the files of a VM); spec backup.md §4.
 */
import type { Qubes } from '../app/app.js';
import { BackupError } from '../errors.js';
import { settingsFromConfig } from '../storage/volume.js';
import type { Route } from './archive-reader.js';
import type { PlanEntry } from './restore-plan.js';

/** Names of the files a qube's entry must have in the archive, and where they go. */
export interface QubeFiles {
  entry: PlanEntry;
  /** inner member name → volume name */
  volumes: Map<string, string>;
  /** inner member name → kind of small file */
  extra: Map<string, 'firewall' | 'notes' | 'empty' | 'menu'>;
  /** Format 3: the file holding the qube's whole directory (`vm9/.`), which may hold the others. */
  directoryArchive?: string;
}

export function qubeFiles(e: PlanEntry, version: number): QubeFiles {
  const f: QubeFiles = { entry: e, volumes: new Map(), extra: new Map() };
  if (version >= 4) {
    for (const c of e.vm.volumeConfig) {
      const s = settingsFromConfig(c);
      if (!s.saveOnStop) continue;
      const m = `${e.subdir}${s.name}.img`;
      f.volumes.set(m, s.name);
    }
    for (const [n, k] of [['firewall.xml', 'firewall'], ['notes.txt', 'notes'], ['empty', 'empty']] as const) f.extra.set(`${e.subdir}${n}`, k);
    return f;
  }
  // format 3: `<path>/private.img`, `root.img` of updateable qubes, maybe inside the directory archive `<path>/.`
  const p = e.subdir.replace(/\/$/, '');
  const vols = ['private'];
  if (e.klass === 'TemplateVM' || e.klass === 'StandaloneVM') vols.unshift('root');
  for (const v of vols) f.volumes.set(`${p}/${v}.img`, v);
  f.extra.set(`${p}/firewall.xml`, 'firewall');
  f.extra.set(`${p}/whitelisted-appmenus.list`, 'menu');
  f.directoryArchive = `${p}/.`;
  return f;
}

/** Whether the archive file `base` is one a qube's restore reads: one of its files, or (format 3) its directory archive. */
export const fileOf = (f: QubeFiles, base: string): boolean => f.volumes.has(base) || f.extra.has(base) || base === f.directoryArchive;


/**
 * Which archive files the restore reads: a planned qube's own files (and,
 * format 3, its directory archive), dom0's home when restored; the files of
 * qubes not restored are skipped. A file outside every qube's `backup-path`
 * is refused.
 */
export function archiveRoute(backupApp: Qubes, files: QubeFiles[], readDom0Home: boolean, version: number): (base: string) => Route {
  const inBackup = [...backupApp.domains.all()].filter((vm) => vm.features.get('backup-content') === '1' || vm.features.get('backup-content') === 'True');
  const paths = inBackup.map((vm) => ({ vm, path: vm.features.get('backup-path') ?? '' }));
  const byName = new Map(files.map((f) => [f.entry.name, f]));
  return (base: string): Route => {
    if (base === 'qubes.xml') return 'skip';
    for (const { vm, path: p } of paths) {
      if (vm.klass === 'AdminVM') {
        if (base === p) return readDom0Home ? 'read' : 'skip';
        continue;
      }
      const dir = version >= 4 ? p : `${p.replace(/\/$/, '')}/`;
      if (p === '' || !base.startsWith(dir)) continue;
      const rest = base.slice(dir.length);
      if (!/^[A-Za-z0-9._-]+$/.test(rest) || rest === '..' || (rest === '.' && version >= 4)) continue;
      const f = byName.get(vm.name);
      return f && fileOf(f, base) ? 'read' : 'skip';
    }
    throw new BackupError(`Unexpected file in archive: ${base} is outside the layout of this backup`);
  };
}
