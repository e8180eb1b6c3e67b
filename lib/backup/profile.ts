// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backup profiles, `/etc/qubes/backup/NAME.conf`: the YAML that qvm-backup
 * writes and qubesd reads (keys sorted as `yaml.safe_dump` writes them).
 * Only the shapes profiles use are read: `key: scalar`, `key: null` and a
 * key followed by `- item` lines.
 * Reference: qubesadmin/tools/qvm_backup.py, qubes/api/admin.py
 * _load_backup_profile; spec backup.md §6.
 */
import fs from 'node:fs';
import path from 'node:path';
import { backupProfileDir, type Env } from '../config.js';
import { BackupError } from '../errors.js';
import { replaceFile } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';

export interface BackupProfile {
  /** true/false, or a filter name. */
  compression: boolean | string;
  destination_path: string;
  destination_vm: string;
  exclude?: string[];
  /** null: every qube with include_in_backups. */
  include: string[] | null;
  passphrase_text?: string;
}

export function profilePath(name: string, env: Env): string {
  if (name === '' || name.includes('/') || name.startsWith('.')) throw new BackupError(`Invalid backup profile name: ${name}`);
  return path.join(backupProfileDir(env), `${name}.conf`);
}

const quote = (s: string): string => (/^[A-Za-z0-9_./@:+-][A-Za-z0-9_./@:+ -]*$/.test(s) && !/^(true|false|null|yes|no|~)$/i.test(s) && !/ $/.test(s) ? s : `'${s.replace(/'/g, "''")}'`);

export function serializeProfile(p: BackupProfile): string {
  const lines: string[] = [];
  const list = (k: string, v: string[] | null | undefined) => {
    if (v === undefined) return;
    if (v === null) lines.push(`${k}: null`);
    else if (v.length === 0) lines.push(`${k}: []`);
    else lines.push(`${k}:`, ...v.map((x) => `- ${quote(x)}`));
  };
  lines.push(`compression: ${typeof p.compression === 'string' ? quote(p.compression) : String(p.compression)}`);
  lines.push(`destination_path: ${quote(p.destination_path)}`);
  lines.push(`destination_vm: ${quote(p.destination_vm)}`);
  list('exclude', p.exclude);
  list('include', p.include);
  if (p.passphrase_text !== undefined) lines.push(`passphrase_text: ${quote(p.passphrase_text)}`);
  return lines.join('\n') + '\n';
}

function scalar(raw: string): string | boolean | null {
  const t = raw.trim();
  if (/^'.*'$/.test(t)) return t.slice(1, -1).replace(/''/g, "'");
  if (/^".*"$/.test(t)) return JSON.parse(t) as string;
  if (/^(true|yes)$/i.test(t)) return true;
  if (/^(false|no)$/i.test(t)) return false;
  if (t === '' || t === 'null' || t === '~') return null;
  return t;
}

export function parseProfile(text: string, file: string): BackupProfile {
  const map = new Map<string, string | boolean | null | string[]>();
  let listKey: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item && listKey) {
      (map.get(listKey) as string[]).push(String(scalar(item[1] as string)));
      continue;
    }
    const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
    if (!kv) throw new BackupError(`Invalid backup profile ${file}: cannot read '${line}'`);
    const [, key, value] = kv as unknown as [string, string, string];
    if (value.trim() === '') {
      map.set(key, []);
      listKey = key;
    } else {
      map.set(key, value.trim() === '[]' ? [] : scalar(value));
      listKey = undefined;
    }
  }
  for (const k of ['destination_vm', 'destination_path', 'include'])
    if (!map.has(k)) throw new BackupError(`Invalid backup profile - missing ${k}`);
  const str = (k: string) => {
    const v = map.get(k);
    return v === null || v === undefined ? undefined : String(v);
  };
  const include = map.get('include');
  const exclude = map.get('exclude');
  const compression = map.has('compression') ? map.get('compression') : true;
  return {
    compression: typeof compression === 'boolean' ? compression : compression === null ? false : String(compression),
    destination_path: str('destination_path') ?? '',
    destination_vm: str('destination_vm') ?? 'dom0',
    include: include === null ? null : Array.isArray(include) ? include : [String(include)],
    exclude: Array.isArray(exclude) ? exclude : exclude ? [String(exclude)] : undefined,
    passphrase_text: str('passphrase_text'),
  };
}

export function loadProfile(name: string, env: Env): BackupProfile {
  const file = profilePath(name, env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BackupError(`Cannot read backup profile ${file}: ${ioReason(e)}`);
  }
  return parseProfile(text, file);
}

export function saveProfile(name: string, p: BackupProfile, env: Env): string {
  const file = profilePath(name, env);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    replaceFile(file, serializeProfile(p), { mode: 0o600 });
  } catch (e) {
    throw new BackupError(`Cannot save backup profile ${file}: ${ioReason(e)}`);
  }
  return file;
}
