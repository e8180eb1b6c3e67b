// SPDX-License-Identifier: GPL-2.0-or-later
/** Validators the property tables share (vm-properties.ts, net-properties.ts). */
import { QubesPropertyValueError } from '../errors.js';
import type { PropValue } from './property.js';
import type { QubesVM } from './qubes-vm.js';

export const positive = (name: string) => (_vm: QubesVM, v: PropValue) => {
  if (typeof v === 'number' && v <= 0) throw new QubesPropertyValueError(`${name} must be positive`);
};
export const nonNegative = (name: string) => (_vm: QubesVM, v: PropValue) => {
  if (typeof v === 'number' && v < 0) throw new QubesPropertyValueError(`${name} must be non-negative`);
};
export const matching = (name: string, re: RegExp, what: string) => (_vm: QubesVM, v: PropValue) => {
  if (typeof v === 'string' && !re.test(v)) throw new QubesPropertyValueError(`Invalid ${name}: '${v}' (${what})`);
};

/**
 * An address property: the reference's property type is Python's
 * ipaddress.IPv4Address/IPv6Address, and its message names that type.
 */
export const address = (pythonType: 'IPv4Address' | 'IPv6Address', ok: (v: string) => boolean) => (_vm: QubesVM, v: PropValue) => {
  if (typeof v === 'string' && !ok(v)) throw new QubesPropertyValueError(`Failed to parse property value as ${pythonType}: '${v}'`);
};
