// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What a backup holds: for each selected qube its directory in the archive
 * (`vm<QID>/`) and files (every save_on_stop volume as `<name>.img`, then
 * firewall.xml and notes.txt when present, or one empty file `empty`),
 * dom0's home last; the size estimates (`backup-size`); the qubes.xml
 * copy with the `backup-*` features; and the summary table.
 *
 * Reference: qubes-core-admin: qubes/backup.py get_files_to_backup,
 * get_backup_summary, backup_do; spec backup.md §2.3, §2.9, §2.10, §6.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import { dom0Home, type Env } from '../config.js';
import { serializeQubes } from '../app/qubes-xml-write.js';
import { BackupError } from '../errors.js';
import { firewallPath } from '../firewall/firewall-file.js';
import type { PoolSet } from '../storage/qube-storage.js';
import type { StoragePool } from '../storage/pool.js';
import type { Volume } from '../storage/volume.js';
import { sizeText } from '../util/size-text.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import type { QubesVM } from '../vm/qubes-vm.js';

/** One file of the backup: its member name in the archive (without chunk suffix) and how to read it. */
export type BackupSource =
  | { kind: 'image'; pool: StoragePool; volume: Volume }
  | { kind: 'file'; path: string }
  | { kind: 'empty' }
  | { kind: 'home'; path: string };

export interface BackupFile {
  member: string;
  source: BackupSource;
  /** Bytes expected (allocated size), for the summary and progress. */
  estimate: number;
}

export interface QubeContent {
  vm: QubesVM;
  /** `vm<QID>/`, or `dom0-home/<user>` for dom0. */
  subdir: string;
  files: BackupFile[];
  size: number;
}


/** Disk usage of a tree (st_blocks), symlinks not followed. */
export function diskUsage(p: string): number {
  const st = fs.lstatSync(p);
  let total = st.blocks * 512;
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) total += diskUsage(path.join(p, e));
  return total;
}

const fileUsage = (p: string): number | undefined => {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  return st?.isFile() ? st.blocks * 512 : undefined;
};

/** The files of the selected qubes, in selection order, dom0 (home) last. */
export async function collectContent(app: Qubes, pools: PoolSet, selected: QubesVM[], env: Env): Promise<QubeContent[]> {
  const out: QubeContent[] = [];
  for (const vm of selected.filter((v) => v.klass !== 'AdminVM')) {
    const subdir = `vm${vm.qid}/`;
    const files: BackupFile[] = [];
    for (const { volume, pool } of await pools.volumesOf(vm)) {
      if (!volume.saveOnStop) continue;
      files.push({ member: `${subdir}${volume.name}.img`, source: { kind: 'image', pool, volume }, estimate: await pool.usage(volume) });
    }
    const dir = qubeDirPath(app.baseDir, vm);
    // the archive name is fixed; the qube's firewall_conf says where the rules are
    for (const [f, p] of [['firewall.xml', firewallPath(app.baseDir, vm)], ['notes.txt', dir && path.join(dir, 'notes.txt')]] as const) {
      const usage = p ? fileUsage(p) : undefined;
      if (p && usage !== undefined) files.push({ member: `${subdir}${f}`, source: { kind: 'file', path: p }, estimate: usage });
    }
    if (files.length === 0) files.push({ member: `${subdir}empty`, source: { kind: 'empty' }, estimate: 0 });
    out.push({ vm, subdir, files, size: files.reduce((s, f) => s + f.estimate, 0) });
  }
  const dom0 = selected.find((v) => v.klass === 'AdminVM');
  if (dom0) {
    const { user, home } = dom0Home(env);
    if (!fs.statSync(home, { throwIfNoEntry: false })?.isDirectory()) throw new BackupError(`dom0 home directory ${home} does not exist`);
    const size = diskUsage(home);
    out.push({ vm: dom0, subdir: `dom0-home/${user}`, files: [{ member: `dom0-home/${user}`, source: { kind: 'home', path: home }, estimate: size }], size });
  }
  return out;
}

/**
 * The store as it goes into the backup: every qube's `backup-content` off,
 * then on with `backup-path` and `backup-size` for the selected ones;
 * `preload-dispvm*` features (but `-max`) dropped. `app` is a private copy.
 */
export function backupQubesXml(app: Qubes, content: QubeContent[]): Buffer {
  for (const vm of app.domains.all()) {
    vm.features.set('backup-content', false);
    for (const [k] of vm.features.entries()) if (k.startsWith('preload-dispvm') && k !== 'preload-dispvm-max') vm.features.delete(k);
  }
  for (const c of content) {
    const vm = app.domains.get(c.vm.name);
    if (!vm) continue;
    vm.features.set('backup-content', true);
    vm.features.set('backup-path', c.subdir);
    vm.features.set('backup-size', String(c.size));
  }
  return Buffer.from(serializeQubes(app), 'utf8');
}

function typeText(vm: QubesVM): string {
  if (vm.klass === 'AdminVM') return 'User home';
  if (vm.klass === 'TemplateVM') return 'Template VM';
  return vm.get('updateable') === true ? 'VM + Sys' : 'VM';
}

/** The summary printed before a backup starts (qubesd's get_backup_summary). */
export function summaryTable(content: QubeContent[], unselected: string[], running: (vm: QubesVM) => boolean = () => false): string {
  const widths = [16, 12, 12];
  const rule = widths.map((w) => '-'.repeat(w + 2) + '+').join('') + '\n';
  const row = (cells: string[]) => cells.map((c, i) => c.padStart((widths[i] as number) + 1) + ' |').join('');
  let s = rule + row(['VM', 'type', 'size']) + '\n' + rule;
  for (const c of content) {
    let line = row([c.vm.name, typeText(c.vm), sizeText(c.size)]);
    if (running(c.vm)) line += ' <-- The VM is running, backup will contain its state from before its start!';
    s += line + '\n';
  }
  s += rule;
  const total = content.reduce((t, c) => t + c.size, 0);
  s += `${'Total size:'.padStart(17)} |${sizeText(total).padStart(12 + 12 + 4)} |\n`;
  s += rule;
  if (unselected.length) s += 'VMs not selected for backup:\n' + [...unselected].sort().map((n) => ` - ${n}\n`).join('');
  return s;
}
