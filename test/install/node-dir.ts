// SPDX-License-Identifier: GPL-2.0-or-later
import fs from 'node:fs';
import path from 'node:path';

/**
 * `PARENT/node`, a directory holding only `node`, the Node the tests run on:
 * first on PATH, it runs the installed `#!/usr/bin/env node` commands and
 * hides nothing else (the machine's own node may be older).
 */
export function nodeOnlyDir(parent: string): string {
  const dir = path.join(parent, 'node');
  fs.mkdirSync(dir);
  fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  return dir;
}
