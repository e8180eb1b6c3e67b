// SPDX-License-Identifier: GPL-2.0-or-later
/** Short, stable wording for the file system errors users meet. */
const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENOENT: 'no such file or directory',
};

export function ioReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && ERRNO_TEXT[err.code]) ?? err.message;
}
