// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What loading a store needs to know about this machine (lib/app/
 * load-migrations.ts declares it): read from sysfs here, when a migration
 * asks, so that the store's reader itself does no host I/O.
 */
import type { HostFacts } from '../app/load-migrations.js';
import { isPciPath, sbdfToPath } from './pci-path.js';
import type { HostRoots } from './sysfs.js';

export function hostFacts(roots: Pick<HostRoots, 'sys'>): HostFacts {
  return {
    // a port on a root bus is a path already; one behind a bridge is converted, or kept when that fails
    pciPort: (port) => (isPciPath(roots.sys, port) ? port : (sbdfToPath(roots.sys, port) ?? port)),
  };
}
