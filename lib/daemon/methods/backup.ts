// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Backups from the profiles in /etc/qubes/backup: declared as the
 * reference has them, handlers to come with the second qubesd part (over
 * lib/backup, as qvm-backup). Until then each answers as an unknown method.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (backup_*).
 */
import { method, type MethodDecl } from '../method.js';

const profile = { destAdminvm: true, wantsArg: true, wantsPayload: false } as const;

export const BACKUP_METHODS: MethodDecl[] = [
  method('admin.backup.Execute', { ...profile, scope: 'global', read: true, execute: true }),
  method('admin.backup.Cancel', { ...profile, scope: 'global', execute: true }),
  method('admin.backup.Info', { ...profile, scope: 'local' }),
];
