// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A boolean sent in a payload (a volume's rw or ephemeral, a pool's
 * ephemeral_volatile), read as the reference reads it with its boolean
 * property setter: ASCII, and one of `0`, `no`, `false`, `off` or `1`,
 * `yes`, `true`, `on` in any case, with nothing around it.
 *
 * Reference: qubes-core-admin: qubes/__init__.py (property.bool) and its
 * callers in qubes/api/admin.py.
 */
import { ProtocolError } from '../errors.js';

const FALSE = ['0', 'no', 'false', 'off'];
const TRUE = ['1', 'yes', 'true', 'on'];

/** @throws ProtocolError in the reference's words */
export function validateBool(untrusted: Buffer): boolean {
  const text = untrusted.toString('latin1');
  const lower = /^[\x00-\x7f]*$/.test(text) ? text.toLowerCase() : undefined;
  if (lower !== undefined && TRUE.includes(lower)) return true;
  if (lower !== undefined && FALSE.includes(lower)) return false;
  throw new ProtocolError('Payload is not boolean ASCII');
}
