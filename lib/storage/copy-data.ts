// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Putting outside data into a volume's import target (the path a driver's
 * importData returned): a file, cloned when the filesystem can, or a
 * stream (standard input) of exactly the announced size. All-zero blocks
 * are skipped, so the target stays sparse (the reference's
 * `dd conv=sparse`), and a short or long stream is an error.
 *
 * Reference: qubes-core-admin: qubes-rpc/admin.vm.volume.Import; spec
 * storage.md §5.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { QubesCancelledError, StoragePoolError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { cancelledError, throwIfCancelled } from './cancel.js';
import type { CommandResult, CommandRunner } from './command-runner.js';
import { dataBytes, watched, type StartCounter } from './copy-watch.js';

const BLOCK = 128 * 1024;

const ZEROS = Buffer.alloc(BLOCK);

/** Whether `b` (at most BLOCK bytes) holds only zeros: memcmp against zeros, not a loop in JS. */
const isAllZero = (b: Buffer): boolean => b[0] === 0 && b[b.length - 1] === 0 && ZEROS.compare(b, 0, b.length, 0, b.length) === 0;

/**
 * Write `data` at `offset` except its all-zero blocks (holes in a fresh
 * sparse target); each run of data blocks is one write.
 */
export function writeSparse(fd: number, data: Buffer, offset: number): void {
  let run = -1;
  const flush = (end: number) => {
    for (let w = run; w < end; ) w += fs.writeSync(fd, data, w, end - w, offset + w);
    run = -1;
  };
  for (let at = 0; at < data.length; at += BLOCK) {
    if (isAllZero(data.subarray(at, at + BLOCK))) {
      if (run >= 0) flush(at);
    } else if (run < 0) run = at;
  }
  if (run >= 0) flush(data.length);
}

/**
 * Copy exactly `size` bytes from `input` into `target` (which exists and
 * reads as zeros: a fresh sparse file or block device). fdatasync at the
 * end. More data than `size` is refused as soon as it arrives, so an
 * endless input (a pipe from /dev/zero) costs at most `size` bytes; an
 * aborted `signal` ends the copy at once, even while the input is silent.
 * `count` hears the bytes read (copy-watch.ts).
 */
export async function importStream(input: Readable, target: string, size: number, signal?: AbortSignal, count?: StartCounter): Promise<void> {
  throwIfCancelled(signal);
  let fd: number;
  try {
    fd = fs.openSync(target, 'r+');
  } catch (e) {
    throw new StoragePoolError(`Cannot open ${target}: ${ioReason(e)}`);
  }
  const onAbort = () => input.destroy(cancelledError(signal as AbortSignal));
  signal?.addEventListener('abort', onAbort, { once: true });
  let copied = 0;
  const copy = async () => {
    let pending: Buffer = Buffer.alloc(0);
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (copied + pending.length + chunk.length > size) throw new StoragePoolError(`too much data (expected ${size} bytes)`);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      // whole blocks only, so the zero test sees aligned blocks
      const whole = pending.length - (pending.length % BLOCK);
      if (whole > 0) {
        writeSparse(fd, pending.subarray(0, whole), copied);
        copied += whole;
        pending = pending.subarray(whole);
      }
    }
    throwIfCancelled(signal);
    if (pending.length) {
      writeSparse(fd, pending, copied);
      copied += pending.length;
    }
    if (copied !== size) throw new StoragePoolError(`not enough data (copied ${copied} bytes, expected ${size} bytes)`);
    fs.fdatasyncSync(fd);
  };
  try {
    await watched(count, size, () => copied, copy);
  } catch (e) {
    if (signal?.aborted) throw cancelledError(signal);
    throw e instanceof StoragePoolError || e instanceof QubesCancelledError ? e : new StoragePoolError(`Cannot write ${target}: ${ioReason(e)}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    fs.closeSync(fd);
  }
}

/**
 * Make the import target `target` hold the file `src`: a reflink when
 * possible (instant), else a sparse copy; then the target gets `size`
 * bytes. Block-device targets (lvm) are written by dd. `count` hears a
 * file copy's bytes (copy-watch.ts).
 */
export async function importFile(src: string, target: string, size: number, runner: CommandRunner, signal?: AbortSignal, count?: StartCounter): Promise<void> {
  const st = fs.statSync(target, { throwIfNoEntry: false });
  if (st?.isBlockDevice()) {
    const r = checkRun(await runner.run(['dd', `if=${src}`, `of=${target}`, 'bs=128K', 'conv=sparse,nocreat,fsync', 'status=none'], { signal }), signal);
    if (r.exitCode !== 0) throw new StoragePoolError(`Cannot copy ${src} to ${target}: ${r.stderr.trim()}`);
    return;
  }
  await cloneOrCopy(src, target, runner, signal, count);
  try {
    fs.truncateSync(target, size);
  } catch (e) {
    throw new StoragePoolError(`Cannot resize ${target}: ${ioReason(e)}`);
  }
}

/**
 * The result of a copying program, or QubesCancelledError when it was
 * killed because the command is being cancelled.
 */
export function checkRun(r: CommandResult, signal: AbortSignal | undefined): CommandResult {
  if (r.cancelled || signal?.aborted) throw cancelledError(signal ?? AbortSignal.abort());
  return r;
}

/** Errors of FICLONE that mean "cannot clone here" (then a sparse copy). */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'EBADF', 'ENOSYS']);

/**
 * `dst` (created or replaced) with the content of `src`: a FICLONE reflink
 * sharing every block, or where the filesystem cannot, `cp --sparse=always`
 * (GNU cp finds holes with SEEK_DATA, which Node cannot), whose bytes
 * `count` hears (copy-watch.ts).
 */
export async function cloneOrCopy(src: string, dst: string, runner: CommandRunner, signal?: AbortSignal, count?: StartCounter): Promise<void> {
  throwIfCancelled(signal);
  try {
    fs.copyFileSync(src, dst, fs.constants.COPYFILE_FICLONE_FORCE);
    return;
  } catch (e) {
    if (!NO_REFLINK.has((e as NodeJS.ErrnoException).code ?? '')) throw new StoragePoolError(`Cannot copy ${src}: ${ioReason(e)}`);
  }
  await watched(count, dataBytes(src), () => dataBytes(dst), async () => {
    const r = checkRun(await runner.run(['cp', '--sparse=always', '--', src, dst], { signal }), signal);
    if (r.exitCode !== 0) throw new StoragePoolError(`Cannot copy ${src} to ${dst}: ${r.stderr.trim() || `cp exit code ${r.exitCode}`}`);
  });
}
