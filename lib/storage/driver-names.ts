// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The storage drivers this implementation has, by the names qubes.xml
 * uses. Kept apart from the drivers themselves so the docs generator and
 * completion can list them without loading any driver.
 */
export const DRIVER_NAMES = ['file', 'file-reflink', 'linux-kernel', 'lvm_thin'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];
