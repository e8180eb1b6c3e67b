// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Persistent device assignments as qubes.xml stores them. This module only
 * reads, migrates and keeps them (the device subsystem uses them); it also
 * answers "does this qube have PCI devices", which decides virt_mode.
 *
 * Reference: qubes-core-admin: qubes/vm/__init__.py LocalVM.load_extras;
 * shared/spec/store-and-core-tools.md §1.3 item 4.
 */
export type AssignmentMode = 'required' | 'auto-attach' | 'ask-to-attach';
export const ASSIGNMENT_MODES: readonly AssignmentMode[] = ['required', 'auto-attach', 'ask-to-attach'];

export interface DeviceAssignment {
  backend: string;
  port: string;
  mode: AssignmentMode;
  /** Device id expected at the port; `*` for any (the default of older stores). */
  identity: string;
  options: [string, string][];
}

/** One `<devices class=...>` element; empty ones are kept (the reference writes them). */
export interface DeviceClassAssignments {
  devclass: string;
  assignments: DeviceAssignment[];
}

export const hasPciDevices = (devices: DeviceClassAssignments[]): boolean =>
  devices.some((d) => d.devclass === 'pci' && d.assignments.length > 0);
