// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The storage drivers this implementation has, with their options, kept
 * apart from the drivers themselves so listing them (qvm-pool drivers, the
 * docs generator, completion) loads no driver.
 *
 * Reference: qubes-core-admin: qubes/storage/__init__.py driver_parameters
 * (constructor signature order; required = no default); spec storage.md §1.1.
 */
export const DRIVER_NAMES = ['callback', 'file', 'file-reflink', 'linux-kernel', 'lvm_thin', 'zfs'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface DriverParameter {
  name: string;
  required: boolean;
}

const opt = (name: string): DriverParameter => ({ name, required: false });
const req = (name: string): DriverParameter => ({ name, required: true });

/** Options a pool of each driver takes, in the reference's signature order. */
export const DRIVER_PARAMETERS: Record<DriverName, DriverParameter[]> = {
  callback: [req('conf_id')],
  file: [opt('revisions_to_keep'), req('dir_path'), opt('ephemeral_volatile')],
  'file-reflink': [opt('revisions_to_keep'), req('dir_path'), opt('setup_check'), opt('ephemeral_volatile')],
  'linux-kernel': [req('dir_path')],
  lvm_thin: [opt('revisions_to_keep'), req('volume_group'), req('thin_pool'), opt('ephemeral_volatile')],
  zfs: [opt('revisions_to_keep'), req('container'), opt('ephemeral_volatile'), opt('snap_on_start_forensics')],
};

/**
 * The attributes a pool of each driver writes to qubes.xml, in order
 * (`setup_check` is an add-time switch, never saved; a callback pool keeps
 * its backend's options in the callback configuration, not in qubes.xml).
 */
export const DRIVER_CONFIG_KEYS: Record<DriverName, string[]> = {
  callback: ['name', 'driver', 'conf_id'],
  file: ['name', 'dir_path', 'driver', 'revisions_to_keep', 'ephemeral_volatile'],
  'file-reflink': ['name', 'dir_path', 'driver', 'revisions_to_keep', 'ephemeral_volatile'],
  'linux-kernel': ['name', 'dir_path', 'driver'],
  lvm_thin: ['name', 'volume_group', 'thin_pool', 'driver', 'revisions_to_keep', 'ephemeral_volatile'],
  zfs: ['name', 'container', 'driver', 'revisions_to_keep', 'ephemeral_volatile', 'snap_on_start_forensics'],
};

export const isDriverName = (s: string): s is DriverName => (DRIVER_NAMES as readonly string[]).includes(s);
