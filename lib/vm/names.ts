// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qube name rules, applied on create and clone and to every qube reference
 * a user types. Reference: qubes-core-admin: qubes/vm/__init__.py
 * validate_name; shared/spec/store-and-core-tools.md §2.6.
 */
import { QubesValueError } from '../errors.js';

const NAME_RE = /^[a-zA-Z][a-zA-Z0-9_.-]*$/;
const RESERVED = new Set(['Domain-0', 'none', 'default']);

/** @throws QubesValueError with the reason the name is refused */
export function validateVmName(untrusted: string): string {
  if (untrusted.length === 0) throw new QubesValueError('VM name cannot be empty');
  if (untrusted.length > 31) throw new QubesValueError(`VM name longer than 31 characters: '${untrusted}'`);
  if (!NAME_RE.test(untrusted))
    throw new QubesValueError(
      `VM name contains illegal characters: '${untrusted}' (allowed: letters, digits, '_', '.', '-'; must start with a letter)`,
    );
  if (RESERVED.has(untrusted)) throw new QubesValueError(`VM name cannot be '${untrusted}'`);
  if (untrusted.endsWith('-dm')) throw new QubesValueError(`VM name cannot end with -dm: '${untrusted}'`);
  return untrusted;
}
