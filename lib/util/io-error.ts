// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The one mapping from Node's system errors (`EEXIST: file already exists,
 * mkdir '/dev/full'`) to plain words (`file exists`): errno codes never
 * reach a user. Short, stable wording for the errors users meet; for any
 * other code the C library's description, as libuv gives it.
 */

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'file exists',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EXDEV: 'not on the same file system',
  EBUSY: 'device or resource busy',
  ETXTBSY: 'text file busy',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EFBIG: 'file too large',
  ENXIO: 'no such device or address',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  EPIPE: 'broken pipe',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'out of memory',
};

/** A Node system error: an errno `code` from a system call. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  const err = e as NodeJS.ErrnoException | null | undefined;
  return typeof err === 'object' && err !== null && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code) && typeof err.syscall === 'string';
}

/** Plain words for a system error's code (no path); other errors keep their message. */
export function ioReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const known = err?.code ? ERRNO_TEXT[err.code] : undefined;
  if (known) return known;
  if (isSystemError(err) && typeof err.errno === 'number') {
    // node:util only when needed (rarely): loading it is ~7 ms of every command's start-up otherwise.
    // getBuiltinModule came with Node 22.3; on 22.0-22.2 the error keeps Node's own message.
    const util = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:util') : undefined;
    const described = util?.getSystemErrorMap().get(err.errno)?.[1];
    if (described) return described;
  }
  return err?.message ?? String(e);
}

/** `not a directory: /x/qubes.xml.lock` (with ` -> DEST` for a rename or link). */
export function systemErrorText(e: NodeJS.ErrnoException & { dest?: string }): string {
  const where = e.path !== undefined ? `: ${e.path}${e.dest !== undefined ? ` -> ${e.dest}` : ''}` : '';
  return `${ioReason(e)}${where}`;
}
