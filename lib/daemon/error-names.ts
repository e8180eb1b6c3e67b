// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The class name an error reply carries. Qubes' client looks it up in
 * qubesadmin.exc and raises that class (QubesException when it does not
 * know it), so our errors go out under the reference's names: most of ours
 * already bear them (lib/errors.ts); the rest are named here, once.
 * Reference: qubes/exc.py, qubesadmin/exc.py.
 */
import type { QubesError } from '../errors.js';

const REFERENCE_NAMES: Record<string, string> = {
  QubesError: 'QubesException',
  StoreError: 'QubesException',
  StoreLockError: 'QubesException',
  StoragePoolError: 'StoragePoolException',
  FirewallRuleSyntaxError: 'QubesValueError',
  QubesCancelledError: 'QubesException',
  BackupError: 'QubesException',
};

export function wireClassName(e: QubesError): string {
  return REFERENCE_NAMES[e.name] ?? e.name;
}
