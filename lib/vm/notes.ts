// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qube notes: free text about a qube (what it is for, where its data came
 * from), kept as `notes.txt` in the qube's directory, backed up and
 * restored with it and copied by qvm-clone. dom0 and remote qubes have no
 * directory and so no notes.
 *
 * Notes are shown to people, so what is stored is made safe to display:
 * at most 256000 bytes of UTF-8 (invalid UTF-8 is refused), tab and
 * newline kept, and every other character that is not safe on a screen
 * replaced by `_`: control characters, spaces other than the ASCII space,
 * marks, format characters, symbols such as emoji, right-to-left text and
 * scripts other than Latin, Greek, Cyrillic, Han, Hangul, Bopomofo,
 * Hiragana, Katakana (characters common to all scripts stay).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (notes_file, get_notes,
 * set_notes), qubes/api/admin.py (vm_notes_set: size limit, sanitising
 * with libqubes-pure's qubes_pure_code_point_safe_for_display, whose rule
 * is restated here from Unicode properties); qubes-core-admin-client:
 * qubesadmin/tools/qvm_notes.py (append).
 */
import fs from 'node:fs';
import path from 'node:path';
import { QubesError, QubesValueError } from '../errors.js';
import { replaceFile, syncDir } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';
import { qubeDirPath } from './qube-dir.js';

export const NOTES_FILE = 'notes.txt';
export const MAX_NOTES_BYTES = 256000;

/** `«qube dir»/notes.txt`. @throws QubesError for dom0 and remote qubes */
export function notesPath(baseDir: string, vm: { klass: string; name: string }): string {
  const dir = qubeDirPath(baseDir, vm);
  if (dir === undefined) throw new QubesError(`${vm.name} has no notes (only qubes that run on this machine have them)`);
  return path.join(dir, NOTES_FILE);
}

// Categories of characters safe to show: letters, numbers, punctuation, maths and currency signs.
const SAFE_CATEGORY = /[\p{L}\p{N}\p{Pd}\p{Ps}\p{Pe}\p{Pc}\p{Po}\p{Sm}\p{Sc}\p{Pi}\p{Pf}]/u;
// Scripts that render left to right without complex shaping (and the characters shared by all scripts).
const SAFE_SCRIPT =
  /[\p{sc=Zyyy}\p{sc=Zinh}\p{sc=Latn}\p{sc=Grek}\p{sc=Cyrl}\p{sc=Brai}\p{sc=Hani}\p{sc=Hang}\p{sc=Bopo}\p{sc=Hira}\p{sc=Kana}]/u;
/**
 * Characters of the common script that are nevertheless written right to
 * left (Unicode Bidi_Class AL): Arabic semicolon, question mark and
 * tatweel, Indic and Ottoman Siyaq numbers. JavaScript has no property
 * escape for the bidirectional class, and these are the only ones the two
 * properties above let through (checked against ICU).
 */
const RIGHT_TO_LEFT_COMMON: readonly [number, number][] = [
  [0x061b, 0x061b],
  [0x061f, 0x061f],
  [0x0640, 0x0640],
  [0x1ec71, 0x1ecb4],
  [0x1ed01, 0x1ed3d],
];

/** Whether one character (a code point above ASCII) may be shown as it is. */
export function safeForDisplay(ch: string): boolean {
  const cp = ch.codePointAt(0) as number;
  if (cp >= 0x20 && cp < 0x7f) return true;
  if (cp < 0xa0) return false;
  if (RIGHT_TO_LEFT_COMMON.some(([a, b]) => cp >= a && cp <= b)) return false;
  return SAFE_CATEGORY.test(ch) && SAFE_SCRIPT.test(ch);
}

/**
 * Notes as they are stored: UTF-8 of at most 256000 bytes, each character
 * unsafe to display replaced by `_` (tab and newline are kept).
 * @throws QubesValueError for too much text or invalid UTF-8
 */
export function sanitizeNotes(untrusted: Uint8Array): string {
  if (untrusted.length > MAX_NOTES_BYTES)
    throw new QubesValueError(`Notes are limited to ${MAX_NOTES_BYTES} bytes (${untrusted.length} given)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(untrusted);
  } catch {
    throw new QubesValueError('Notes must be UTF-8 text');
  }
  return text.replace(/[^\t\n\x20-\x7e]/gu, (ch) => (safeForDisplay(ch) ? ch : '_'));
}

/** Text appended as its own line: a newline first unless the notes are empty or end with one. */
export const appendedNotes = (notes: string, extra: string): string => (notes.split('\n').at(-1) ? `${notes}\n` : notes) + extra;

/** The notes of a qube; empty when it has none. @throws QubesError */
export function readNotes(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new QubesError(`Cannot read the notes ${file}: ${ioReason(e)}`);
  }
}

/** Replace the notes atomically (temporary file, fsync, rename), making the qube's directory if needed. @throws QubesError */
export function writeNotes(file: string, notes: string): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true });
    replaceFile(file, notes, { mode: 0o664 });
    syncDir(dir);
  } catch (e) {
    throw new QubesError(`Cannot write the notes ${file}: ${ioReason(e)}`);
  }
}
