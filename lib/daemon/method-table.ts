// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The Admin API methods, one family per file under methods/. Each row is
 * the one declaration of a method (name, scope, access, what it accepts,
 * handler); the framing checks, the qrexec policy files and the
 * /etc/qubes-rpc entries are all made from it (policy.ts). A new method
 * family is a new file here and one line below.
 */
import type { MethodDecl } from './method.js';
import { BACKUP_METHODS } from './methods/backup.js';
import { DEVICE_METHODS } from './methods/devices.js';
import { FEATURE_METHODS } from './methods/features.js';
import { FIREWALL_METHODS } from './methods/firewall.js';
import { LABEL_METHODS } from './methods/labels.js';
import { LIFECYCLE_METHODS } from './methods/lifecycle.js';
import { NOTES_METHODS } from './methods/notes.js';
import { POOL_METHODS } from './methods/pools.js';
import { PROPERTY_METHODS } from './methods/properties.js';
import { QUBE_METHODS } from './methods/qubes.js';
import { SYSTEM_METHODS } from './methods/system.js';
import { TAG_METHODS } from './methods/tags.js';
import { VOLUME_METHODS } from './methods/volumes.js';

export const FAMILIES: readonly (readonly MethodDecl[])[] = [
  SYSTEM_METHODS,
  PROPERTY_METHODS,
  LABEL_METHODS,
  FEATURE_METHODS,
  TAG_METHODS,
  NOTES_METHODS,
  POOL_METHODS,
  VOLUME_METHODS,
  FIREWALL_METHODS,
  LIFECYCLE_METHODS,
  QUBE_METHODS,
  DEVICE_METHODS,
  BACKUP_METHODS,
];

/** Every declared method by name. @throws Error when two rows declare one name */
export function methodTable(families: readonly (readonly MethodDecl[])[] = FAMILIES): ReadonlyMap<string, MethodDecl> {
  const table = new Map<string, MethodDecl>();
  for (const family of families)
    for (const m of family) {
      if (table.has(m.name)) throw new Error(`Admin API method declared twice: ${m.name}`);
      table.set(m.name, m);
    }
  return table;
}
