// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * `backup-header`: key=value lines. Writing (format 4, the reference's
 * order) and reading with the reference's validation, which is applied
 * only after the header was authenticated (spec backup.md §2.4, §4.2).
 * Reference: qubesadmin/backup/restore.py BackupHeader.
 */
import { BackupError } from '../errors.js';

export const KNOWN_FILTERS = ['gzip', 'bzip2', 'xz'];
export const OPTIONAL_FILTERS = ['lzma', 'pbzip2', 'pigz', 'zstd', 'zstdmt'];

export interface BackupHeader {
  version: number;
  encrypted: boolean;
  compressed: boolean;
  compressionFilter: string;
  hmacAlgorithm: string;
  cryptoAlgorithm?: string;
  backupId?: string;
}

/** `YYYYMMDDTHHMMSS-PID` of local time, as qubesd names a backup. */
export function newBackupId(now = new Date(), pid = process.pid): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}T${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}-${pid}`;
}

export function serializeHeader(h: { compressed: boolean; compressionFilter: string; backupId: string }): Buffer {
  if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(h.backupId)) throw new BackupError(`invalid backup id ${h.backupId}`);
  if (!/^[A-Za-z0-9-]+$/.test(h.compressionFilter)) throw new BackupError(`The compression filter name '${h.compressionFilter}' cannot be recorded in a backup header (letters, digits and '-' only)`);
  return Buffer.from(
    'version=4\nencrypted=True\n' +
      `compressed=${h.compressed ? 'True' : 'False'}\n` +
      `compression-filter=${h.compressionFilter}\n` +
      'hmac-algorithm=scrypt\n' +
      `backup-id=${h.backupId}\n`,
    'ascii',
  );
}

const bool = (v: string) => ['1', 'true', 'yes'].includes(v.toLowerCase());

export interface ParseOptions {
  /** -Z: forced decompressor, replaces the header's value before any check of it. */
  forcedFilter?: string;
  /** Whether an optional filter program is installed. */
  installed?: (prog: string) => boolean;
}

/** Parse and validate an authenticated header (messages of the reference). */
export function parseHeader(data: Buffer, opts: ParseOptions = {}): BackupHeader {
  if (data.some((b) => b > 0x7f)) throw new BackupError('Non-ASCII characters in backup header');
  const seen = new Map<string, string>();
  const text = data.toString('ascii');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const parts = line.split('=');
    if (parts.length !== 2) throw new BackupError('Invalid backup header');
    const key = (parts[0] as string).trim();
    let value = (parts[1] as string).trim();
    if (!/^[A-Za-z0-9-]*$/.test(key)) throw new BackupError('Invalid backup header (key)');
    if (!['version', 'encrypted', 'compressed', 'compression-filter', 'crypto-algorithm', 'hmac-algorithm', 'backup-id'].includes(key)) continue;
    if (seen.has(key)) throw new BackupError(`Duplicated header line: ${key}`);
    if (key === 'compression-filter' && opts.forcedFilter !== undefined) {
      seen.set(key, opts.forcedFilter);
      continue;
    }
    if (!/^[A-Za-z0-9-]*$/.test(value)) throw new BackupError('Invalid backup header (value)');
    if (key === 'compression-filter') {
      if (OPTIONAL_FILTERS.includes(value) && !(opts.installed?.(value) ?? true))
        throw new BackupError(`Optional '${value}' compression filter is not installed. Please install it to restore this backup.`);
      if (!KNOWN_FILTERS.includes(value) && !OPTIONAL_FILTERS.includes(value))
        throw new BackupError(`Unusual compression filter '${value}' found. Use --compression-filter=${value} to use it anyway.`);
    }
    if ((key === 'crypto-algorithm' || key === 'hmac-algorithm') && value.toLowerCase() !== 'scrypt') value = value.toLowerCase();
    if (key === 'backup-id' && (value === '' || value.startsWith('-'))) throw new BackupError('Invalid backup header (backup-id)');
    seen.set(key, value);
  }
  if (!seen.has('version')) throw new BackupError("Backup header lack 'version' info");
  const version = Number(seen.get('version'));
  if (!Number.isInteger(version) || version < 1 || version > 4) throw new BackupError(`Unsupported backup version ${seen.get('version')}`);
  if (version < 2) throw new BackupError(`Unsupported backup version ${version}`);
  const need = ['version', 'encrypted', 'compressed', 'hmac-algorithm'];
  const encrypted = bool(seen.get('encrypted') ?? '');
  const compressed = bool(seen.get('compressed') ?? '');
  if (encrypted && version < 4) need.push('crypto-algorithm');
  if (version >= 3 && compressed) need.push('compression-filter');
  if (version >= 4) need.push('backup-id');
  for (const k of need) if (!seen.has(k)) throw new BackupError(`Backup header lack '${k}' info`);
  if (version === 2) throw new BackupError('Backup format version 2 not supported; see the emergency restore procedure for version 2 backups');
  return {
    version,
    encrypted,
    compressed,
    compressionFilter: seen.get('compression-filter') ?? 'gzip',
    hmacAlgorithm: seen.get('hmac-algorithm') as string,
    cryptoAlgorithm: seen.get('crypto-algorithm'),
    backupId: seen.get('backup-id'),
  };
}
