// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Per-qube tags: a set of names used by qrexec policy (`@tag:NAME`).
 * Kept in insertion order so a store written by the reference round-trips
 * byte for byte (its Python set order is whatever the file had); listings
 * sort. Reference: qubes-core-admin: qubes/vm/__init__.py Tags;
 * shared/spec/store-and-core-tools.md §6.1.
 */
import { QubesValueError } from '../errors.js';

const TAG_RE = /^[A-Za-z0-9_-]+$/;

export function validateTag(untrusted: string): string {
  if (!TAG_RE.test(untrusted)) throw new QubesValueError(`Invalid tag: '${untrusted}' (allowed: letters, digits, '_', '-')`);
  return untrusted;
}

export class Tags {
  readonly set = new Set<string>();

  has(tag: string): boolean {
    return this.set.has(tag);
  }
  add(tag: string): void {
    this.set.add(validateTag(tag));
  }
  delete(tag: string): boolean {
    return this.set.delete(tag);
  }
  sorted(): string[] {
    return [...this.set].sort();
  }
  /** Replace every tag starting with `prefix` by `prefix + value` (or none). */
  replacePrefixed(prefix: string, value: string | null): void {
    for (const t of [...this.set]) if (t.startsWith(prefix)) this.set.delete(t);
    if (value !== null) this.set.add(prefix + value);
  }
}
