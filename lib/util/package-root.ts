// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The directory this package is installed in, found from the running code
 * (a bundle in dist/bin, compiled modules in dist/lib, or the sources under
 * test), for starting the package's own executables.
 */
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';
const { fileURLToPath } = url;

const PACKAGE_NAME = 'qubes-dom0-tools';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === PACKAGE_NAME) return (cached = dir);
    } catch {
      // no (readable) package.json here: keep climbing
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package directory`);
  }
}

/** Path of one of the package's commands (bin/NAME). */
export const packageBin = (name: string): string => path.join(packageRoot(), 'bin', name);
