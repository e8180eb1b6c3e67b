// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Per-qube features: a string→string map in insertion order. Absent means
 * "default" (the reader decides), the empty string means false, anything
 * else, including "0", is true (quirk(reference), kept: VMs read it so).
 * Inheritance is by lookup helpers, never by copying.
 *
 * Reference: qubes-core-admin: qubes/features.py;
 * shared/spec/store-and-core-tools.md §5.1.
 */
import { QubesValueError } from '../errors.js';

const FEATURE_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const FEATURE_VALUE_RE = /^[\x20-\x7e]*$/;

export function validateFeatureName(untrusted: string): string {
  if (!FEATURE_NAME_RE.test(untrusted))
    throw new QubesValueError(`Invalid feature name: '${untrusted}' (allowed: letters, digits, '_', '.', '-')`);
  return untrusted;
}

/** true is stored as "1", false and null as "", other values stringified. */
function featureValue(value: string | boolean | null): string {
  if (value === true) return '1';
  if (value === false || value === null) return '';
  if (!FEATURE_VALUE_RE.test(value)) throw new QubesValueError('Feature value must be printable ASCII');
  return value;
}

export const featureIsTrue = (value: string | undefined): boolean => value !== undefined && value !== '';

export class Features {
  readonly map = new Map<string, string>();

  get(name: string): string | undefined {
    return this.map.get(name);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  set(name: string, value: string | boolean | null): void {
    this.map.set(validateFeatureName(name), featureValue(value));
  }
  delete(name: string): boolean {
    return this.map.delete(name);
  }
  entries(): [string, string][] {
    return [...this.map.entries()];
  }
}

/** Anything with features and maybe a template or netvm to fall back on. */
export interface FeatureSource {
  features: Features;
  templateVm(): FeatureSource | null;
  netvmVm(): FeatureSource | null;
}

/** The qube's own value, else its template's (recursively), else `dflt`. */
export function checkWithTemplate(vm: FeatureSource, name: string, dflt?: string): string | undefined {
  for (let cur: FeatureSource | null = vm; cur; cur = cur.templateVm()) {
    const v = cur.features.get(name);
    if (v !== undefined) return v;
  }
  return dflt;
}

/** The qube's own value, else along its netvm chain, else `dflt`. */
export function checkWithNetvm(vm: FeatureSource, name: string, dflt?: string): string | undefined {
  const seen = new Set<FeatureSource>();
  for (let cur: FeatureSource | null = vm; cur && !seen.has(cur); cur = cur.netvmVm()) {
    seen.add(cur);
    const v = cur.features.get(name);
    if (v !== undefined) return v;
  }
  return dflt;
}
