// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The property system: each setting is declared once (name, type, default,
 * validation, load stage, doc) and every holder (a qube or the global
 * settings) stores only explicitly set values, as the exact text qubes.xml
 * holds. Typed values are parsed on read, so loading 1000 qubes does not pay
 * for properties nobody looks at, and unknown values survive a save verbatim.
 *
 * Semantics: stored value if present, else the default computed at each read
 * (so it tracks templates and global settings), else unset.
 *
 * Reference: qubes-core-admin: qubes/__init__.py (property, PropertyHolder);
 * shared/spec/store-and-core-tools.md §2.1.
 */
import { QubesNoSuchPropertyError, QubesPropertyValueError } from '../errors.js';
import { codepointOrder } from '../util/compare.js';

export type PropType = 'str' | 'int' | 'bool' | 'vm' | 'label' | 'uuid' | 'pool';

/** A VM reference is the qube's name; null is an explicit "no qube". */
export type PropValue = string | number | boolean | null;

export interface PropertyHolder {
  /** Explicitly set values as stored in qubes.xml. */
  readonly props: Map<string, string>;
  readonly defs: ReadonlyMap<string, AnyPropertyDef>;
  /** True while the store is being loaded: side-effect checks are skipped. */
  readonly loading: boolean;
  /** Check a VM, label or pool reference exists; returns its canonical text. */
  resolveReference(def: AnyPropertyDef, value: string): string;
}

/**
 * A definition read without knowing which holder class it belongs to (its
 * name, type, flags): its holder-taking functions accept no holder here, so
 * a caller that runs them names the holder type (`as PropertyDef<H>`).
 */
export type AnyPropertyDef = PropertyDef<never>;

export interface PropertyDef<H extends PropertyHolder = PropertyHolder> {
  name: string;
  type: PropType;
  doc: string;
  /** Default computed at read time; absent means the property may be unset. */
  default?: (holder: H) => PropValue | undefined;
  /** May be set once while unset (qid, name, uuid). */
  writeOnce?: boolean;
  /** Exposed but never settable; a stored value in qubes.xml is a load error. */
  forbidden?: boolean;
  /** Computed, never stored, always "default" (xid, gateway, ...). */
  stateless?: boolean;
  /** For VM references: whether "no qube" is allowed. */
  allowNone?: boolean;
  /** Canonical form of user text before any check (virt_mode and mac are lower-cased). */
  normalize?: (untrusted: string) => string;
  /** Allowed values of a string property (also offered by completion). */
  choices?: readonly string[];
  /** Stage 4 properties are written after stage 2 ones (reference order). */
  loadStage?: 2 | 4;
  /**
   * Extra validation of an already type-checked value; runs on user changes
   * only (never while loading). Throw QubesPropertyValueError to refuse.
   */
  validate?: (holder: H, value: PropValue) => void;
  /** Refuse a reset (e.g. AppVM template). */
  resetError?: string;
  /** Checks before a reset by the user (never while loading); throw to refuse. */
  beforeReset?: (holder: H) => void;
  /** Side effects after a set or reset (tags, features). */
  afterChange?: (holder: H, oldValue: PropValue | undefined) => void;
}

const TRUE_WORDS = new Set(['1', 'yes', 'true', 'on']);
const FALSE_WORDS = new Set(['0', 'no', 'false', 'off']);

/** Parse a boolean as the reference's property.bool does (case-insensitive). */
export function parseBool(untrusted: string): boolean | undefined {
  const v = untrusted.trim().toLowerCase();
  if (TRUE_WORDS.has(v)) return true;
  if (FALSE_WORDS.has(v)) return false;
  return undefined;
}

const INT_RE = /^\s*[-+]?\d+\s*$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;

/** Turn stored text into a typed value. */
export function parseStored(def: AnyPropertyDef, raw: string): PropValue {
  switch (def.type) {
    case 'bool':
      return parseBool(raw) ?? false;
    case 'int':
      return parseInt(raw, 10);
    case 'vm':
      return raw === '' ? null : raw;
    default:
      return raw;
  }
}

/** Render a typed value as qubes.xml stores it. */
export function toStored(def: AnyPropertyDef, value: PropValue): string {
  if (value === null) return def.type === 'vm' || def.type === 'label' ? '' : 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

/**
 * Check the syntax of a stored or user-given value for its type; returns the
 * typed value. Referential checks (qube exists, label exists) are done by the
 * holder, which knows the collection.
 * @throws QubesPropertyValueError
 */
export function coerce(def: AnyPropertyDef, untrusted: string): PropValue {
  switch (def.type) {
    case 'bool': {
      const b = parseBool(untrusted);
      if (b === undefined) throw new QubesPropertyValueError(`Invalid literal for boolean property: '${untrusted}'`);
      return b;
    }
    case 'int': {
      if (!INT_RE.test(untrusted))
        throw new QubesPropertyValueError(`Invalid literal for integer property ${def.name}: '${untrusted}'`);
      // Beyond 2^53 a number is rounded (99999999999999999999 would be
      // stored as 100000000000000000000): refuse what cannot be kept exactly.
      const n = parseInt(untrusted, 10);
      if (!Number.isSafeInteger(n))
        throw new QubesPropertyValueError(
          `Integer property ${def.name} out of range: '${untrusted.trim()}' (at most ${Number.MAX_SAFE_INTEGER} in absolute value)`,
        );
      return n;
    }
    case 'uuid': {
      const u = untrusted.trim().toLowerCase();
      if (!UUID_RE.test(u)) throw new QubesPropertyValueError(`Invalid UUID for property ${def.name}: '${untrusted}'`);
      return u;
    }
    case 'vm':
      // "none" can never be a qube name (reserved), so it always means no qube.
      if (untrusted === '' || untrusted.toLowerCase() === 'none') {
        if (!def.allowNone) throw new QubesPropertyValueError(`Property ${def.name} does not allow an empty value`);
        return null;
      }
      return untrusted;
    default:
      if (!PRINTABLE_RE.test(untrusted))
        throw new QubesPropertyValueError(`Value of property ${def.name} must be printable ASCII`);
      if (def.choices && !def.choices.includes(untrusted))
        throw new QubesPropertyValueError(
          `Invalid value for property ${def.name}: '${untrusted}'; expected one of: ${def.choices.join(', ')}`,
        );
      return untrusted;
  }
}

/**
 * The reference's order of properties (qubes/__init__.py property.__lt__):
 * load stage, then name; the order qubes.xml and the Admin API list them in.
 */
export function propertyOrder(defs: ReadonlyMap<string, AnyPropertyDef>): (a: string, b: string) => number {
  const stage = (n: string) => defs.get(n)?.loadStage ?? 2;
  return (a, b) => stage(a) - stage(b) || codepointOrder(a, b);
}

export function getDef(holder: PropertyHolder, name: string): AnyPropertyDef {
  const def = holder.defs.get(name);
  if (!def) throw new QubesNoSuchPropertyError(name);
  return def;
}

/** The current value: stored, else default, else undefined (unset). */
export function getProperty<H extends PropertyHolder>(holder: H, name: string): PropValue | undefined {
  const def = getDef(holder, name) as PropertyDef<H>;
  const raw = holder.props.get(name);
  if (raw !== undefined && !def.stateless) return parseStored(def, raw);
  return def.default ? def.default(holder) : undefined;
}

export function isDefault(holder: PropertyHolder, name: string): boolean {
  const def = getDef(holder, name);
  return def.stateless === true || !holder.props.has(name);
}

/** Common refusals for set and reset. */
export function assertWritable(holder: PropertyHolder, def: AnyPropertyDef, resetting: boolean): void {
  if (def.stateless || def.forbidden) throw new QubesPropertyValueError(`property '${def.name}' cannot be set`);
  if (def.writeOnce && holder.props.has(def.name))
    throw new QubesPropertyValueError(`property '${def.name}' is write-once and already set`);
  if (resetting && def.resetError) throw new QubesPropertyValueError(def.resetError);
}

/**
 * Set a property from user (or store) text: type check, reference check,
 * then (except while loading) the property's own checks and side effects.
 * @throws QubesNoSuchPropertyError, QubesPropertyValueError
 */
export function setProperty<H extends PropertyHolder>(holder: H, name: string, untrusted: string): void {
  const def = getDef(holder, name) as PropertyDef<H>;
  if (!holder.loading) assertWritable(holder, def, false);
  let value = coerce(def, def.normalize ? def.normalize(untrusted) : untrusted);
  if (typeof value === 'string' && (def.type === 'vm' || def.type === 'label' || def.type === 'pool'))
    value = holder.resolveReference(def, value);
  if (holder.loading) {
    holder.props.set(name, toStored(def, value));
    return;
  }
  def.validate?.(holder, value);
  const old = getProperty(holder, name);
  holder.props.set(name, toStored(def, value));
  def.afterChange?.(holder, old);
}

/** Back to default (`--default`). */
export function resetProperty<H extends PropertyHolder>(holder: H, name: string): void {
  const def = getDef(holder, name) as PropertyDef<H>;
  assertWritable(holder, def, true);
  def.beforeReset?.(holder);
  const old = getProperty(holder, name);
  holder.props.delete(name);
  def.afterChange?.(holder, old);
}
