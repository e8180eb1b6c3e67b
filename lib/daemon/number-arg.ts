// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A number sent in a payload (sizes, revisions_to_keep), checked as the
 * reference's AbstractQubesAPI.validate_number: ASCII digits only (an
 * optional leading `-` where negatives are allowed), fewer than 20 of them,
 * no leading zero.
 *
 * Reference: qubes-core-admin: qubes/api/__init__.py (validate_number).
 */
import { ProtocolError } from '../errors.js';

/** @throws ProtocolError naming `what` capitalised, as the reference */
export function validateNumber(untrusted: Buffer, what: string, allowNegative = false): number {
  let digits = untrusted.toString('latin1');
  let sign = 1;
  if (allowNegative && digits.startsWith('-')) {
    sign = -1;
    digits = digits.slice(1);
  }
  const name = what.charAt(0).toUpperCase() + what.slice(1).toLowerCase();
  if (!/^[0-9]+$/.test(digits)) throw new ProtocolError(`${name} contains non ASCII digits`);
  if (digits.length >= 20) throw new ProtocolError(`${name} is bigger than 19 decimal digits`);
  if (digits.startsWith('0') && digits !== '0') throw new ProtocolError(`${name} contains spurious leading zeros`);
  return sign * Number(digits);
}
