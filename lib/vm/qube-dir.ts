// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's own directory under the base directory (`appvms/NAME`,
 * `vm-templates/NAME`): where file-pool images live by default and where
 * per-qube files such as firewall.xml and notes.txt are kept. dom0 and
 * remote qubes have none.
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py (dir_path,
 * dir_path_prefix), qubes/vm/templatevm.py, qubes/config.py system_path.
 */
import path from 'node:path';
import { runsHere } from './vm-properties.js';

/** The subdirectory holding qubes of a class. */
export const dirPathPrefix = (klass: string): string => (klass === 'TemplateVM' ? 'vm-templates' : 'appvms');

/** `BASE/appvms/NAME` or `BASE/vm-templates/NAME`; undefined for dom0 and remote qubes. */
export function qubeDirPath(baseDir: string, vm: { klass: string; name: string }): string | undefined {
  if (!runsHere(vm.klass)) return undefined;
  return path.join(baseDir, dirPathPrefix(vm.klass), vm.name);
}
