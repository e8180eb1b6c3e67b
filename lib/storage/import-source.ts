// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What an import reads (qvm-volume import, qvm-create -r/-R): a regular
 * file, whose length is known; a block device, or standard input, read as
 * a stream of the size the user gives. Anything else named by a path (a
 * character device such as /dev/zero, a FIFO, a socket, a directory) is
 * refused before anything is made: it has no length and may never end, so
 * no copy of it could be bounded. A stream is bounded by the size given:
 * one byte more is refused as it arrives (copy-data.ts importStream).
 *
 * Paths are opened with O_NONBLOCK, so a FIFO put in a file's place cannot
 * block the command before its type is checked.
 */
import fs from 'node:fs';
import { QubesValueError } from '../errors.js';
import { ioReason } from '../util/io-error.js';

export interface ImportSource {
  fd: number;
  /** The length of a regular file; undefined for a stream (a block device, a pipe on standard input). */
  length: number | undefined;
}

/** What a file of this type is, when an import cannot read it as an image. */
function unreadableKind(st: fs.Stats): string | undefined {
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return undefined;
}

/**
 * Refuse a path that no import can read (see the module comment).
 * @throws QubesValueError naming the file and what it is
 */
export function checkImportPath(file: string, st: fs.Stats): void {
  const kind = unreadableKind(st);
  if (kind) throw new QubesValueError(`${file} is ${kind}, not an image file`);
}

/**
 * Open the source of an import: `-` is standard input (any type: a pipe is
 * bounded by the size given), anything else a path checked as above.
 * @throws QubesValueError for a missing or unreadable file, or one of a refused type
 */
export function openImportSource(file: string): ImportSource {
  if (file === '-') {
    const st = fs.fstatSync(0);
    return { fd: 0, length: st.isFile() ? st.size : undefined };
  }
  let fd: number;
  try {
    // a socket cannot even be opened: say what it is
    checkImportPath(file, fs.statSync(file));
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (e instanceof QubesValueError) throw e;
    throw new QubesValueError(`Cannot open ${file}: ${ioReason(e)}`);
  }
  const st = fs.fstatSync(fd);
  try {
    checkImportPath(file, st);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return { fd, length: st.isFile() ? st.size : undefined };
}

/**
 * The number of bytes to import: `wanted` (`--size`, or the volume's size
 * for `--no-resize`), which a regular file must hold exactly, or else the
 * file's length; a stream needs `wanted`.
 * @throws QubesValueError
 */
export function importLength(src: ImportSource, file: string, wanted: number | undefined): number {
  if (wanted === undefined) {
    if (src.length === undefined)
      throw new QubesValueError('Failed to get the input file size, specify it explicitly with --size, or use --no-resize option');
    return src.length;
  }
  if (src.length !== undefined && src.length !== wanted)
    throw new QubesValueError(`${file === '-' ? 'Standard input' : file} holds ${src.length} bytes, not the ${wanted} to import`);
  return wanted;
}
