// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backup passphrases: from a file (its first line, `-` = standard input,
 * trailing whitespace stripped as the reference's rstrip) or typed; no
 * control characters (the reference fed them to `scrypt` through a
 * terminal, where they would be mangled; spec backup.md §2.5).
 */
import fs from 'node:fs';
import { BackupError } from '../errors.js';
import { ioReason } from '../util/io-error.js';

export function checkPassphrase(p: string): string {
  if (p === '') throw new BackupError('Empty passphrase');
  if (/[\x00-\x1f\x7f]/.test(p)) throw new BackupError('The passphrase must not contain control characters (newline, tab, ...)');
  return p;
}

export function passphraseFromFile(file: string): string {
  let text: string;
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new BackupError(`Cannot read the passphrase file ${file}: ${ioReason(e)}`);
  }
  return checkPassphrase((text.split('\n')[0] ?? '').replace(/\s+$/, ''));
}
