// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Labels: the coloured categories every qube has. Equality is by name.
 * Reference: qubes-core-admin: qubes/app.py (Label, load_initial_values);
 * shared/spec/store-and-core-tools.md §3.3, §1.5 (old gray migration).
 */
import { QubesLabelNotFoundError, QubesValueError } from '../errors.js';

export interface Label {
  index: number;
  name: string;
  /** `0xRRGGBB`, opaque to the core. */
  color: string;
}

export const DEFAULT_LABELS: readonly Label[] = [
  { index: 1, name: 'red', color: '0xcc0000' },
  { index: 2, name: 'orange', color: '0xf57900' },
  { index: 3, name: 'yellow', color: '0xedd400' },
  { index: 4, name: 'green', color: '0x73d216' },
  { index: 5, name: 'gray', color: '0x555555' },
  { index: 6, name: 'blue', color: '0x3465a4' },
  { index: 7, name: 'purple', color: '0x75507b' },
  { index: 8, name: 'black', color: '0x000000' },
];

/** The highest index of the default labels; custom ones come after it. */
export const MAX_DEFAULT_LABEL = 8;

const LABEL_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const COLOR_RE = /^0x[0-9a-fA-F]{6}$/;

export class Labels {
  private readonly byIndex = new Map<number, Label>();
  private readonly byName = new Map<string, Label>();

  add(label: Label): void {
    if (this.byIndex.has(label.index)) throw new QubesValueError(`Duplicate label index: ${label.index}`);
    if (this.byName.has(label.name)) throw new QubesValueError(`Duplicate label name: ${label.name}`);
    this.byIndex.set(label.index, label);
    this.byName.set(label.name, label);
  }

  /** Sorted by index, as the writer emits them. */
  all(): Label[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index);
  }

  names(): string[] {
    return this.all().map((l) => l.name);
  }

  /**
   * Find a label by name, index, numeric string or `label-N` (old files and
   * the API accept all four).
   * @throws QubesLabelNotFoundError
   */
  get(untrusted: string | number): Label {
    if (typeof untrusted === 'number') {
      const l = this.byIndex.get(untrusted);
      if (l) return l;
    } else {
      const byName = this.byName.get(untrusted);
      if (byName) return byName;
      const m = /^(?:label-)?(\d+)$/.exec(untrusted);
      const byIdx = m ? this.byIndex.get(Number(m[1])) : undefined;
      if (byIdx) return byIdx;
    }
    throw new QubesLabelNotFoundError(String(untrusted));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A custom label gets index max(8, existing)+1. */
  addCustom(name: string, color: string): Label {
    if (!LABEL_NAME_RE.test(name) || /^\d+$/.test(name)) throw new QubesValueError(`Invalid label name: '${name}'`);
    if (!COLOR_RE.test(color)) throw new QubesValueError(`Invalid color: '${color}' (expected 0xRRGGBB)`);
    const index = Math.max(MAX_DEFAULT_LABEL, ...this.byIndex.keys()) + 1;
    const label = { index, name, color: color.toLowerCase() };
    this.add(label);
    return label;
  }

  /** Forget a label (the caller checks no qube uses it). */
  remove(label: Label): void {
    this.byIndex.delete(label.index);
    this.byName.delete(label.name);
  }

  static defaults(): Labels {
    const labels = new Labels();
    for (const l of DEFAULT_LABELS) labels.add({ ...l });
    return labels;
  }
}
