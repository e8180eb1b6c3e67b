// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The events that lead from one snapshot of the store to the next, with
 * the reference's names and fields: domain-add, domain-delete (subject the
 * system, field vm), property-set:NAME (name, newvalue, oldvalue) and
 * property-reset:NAME (name, oldvalue) for explicitly set values of qubes
 * and of the system, domain-feature-set:NAME (feature, value, oldvalue),
 * domain-feature-delete:NAME (feature), domain-tag-add:TAG and
 * domain-tag-delete:TAG (tag), pool-add and pool-delete (subject the
 * system, field pool). The daemon announces changes this way
 * whoever made them, so a one-shot command's change reads the same as one
 * made through the daemon.
 *
 * Reference: qubes-core-admin: qubes/__init__.py (property __set__ and
 * __delete__), qubes/features.py, qubes/vm/__init__.py (Tags), qubes/app.py
 * (domain-add, domain-delete, add_pool and remove_pool: pool-add,
 * pool-delete).
 */
import type { Qubes } from '../app/app.js';
import { getProperty, type PropertyHolder, type PropValue } from '../vm/property.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { EventFields } from './wire.js';

export type StoreEvent = [subject: string, event: string, fields: EventFields];

/** A value as the reference's str() shows it in an event ('' for no qube). */
export function valueText(v: PropValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

/** The effective value, or undefined when it cannot be computed without the hypervisor or is unset. */
function effective(holder: PropertyHolder, name: string): PropValue | undefined {
  try {
    return getProperty(holder, name);
  } catch {
    return undefined;
  }
}

function propertyEvents(subject: string, before: PropertyHolder, after: PropertyHolder, out: StoreEvent[]): void {
  for (const [name, raw] of after.props) {
    if (before.props.get(name) === raw) continue;
    const fields: EventFields = [
      ['name', name],
      ['newvalue', valueText(effective(after, name))],
    ];
    const old = effective(before, name);
    if (old !== undefined) fields.push(['oldvalue', valueText(old)]);
    out.push([subject, `property-set:${name}`, fields]);
  }
  for (const name of before.props.keys()) {
    if (after.props.has(name)) continue;
    out.push([subject, `property-reset:${name}`, [['name', name], ['oldvalue', valueText(effective(before, name))]]]);
  }
}

function featureEvents(before: QubesVM, after: QubesVM, out: StoreEvent[]): void {
  for (const [name, value] of after.features.entries()) {
    const old = before.features.get(name);
    if (old === value) continue;
    const fields: EventFields = [
      ['feature', name],
      ['value', value],
    ];
    if (old !== undefined) fields.push(['oldvalue', old]);
    out.push([after.name, `domain-feature-set:${name}`, fields]);
  }
  for (const [name] of before.features.entries())
    if (!after.features.has(name)) out.push([after.name, `domain-feature-delete:${name}`, [['feature', name]]]);
}

function tagEvents(before: QubesVM, after: QubesVM, out: StoreEvent[]): void {
  for (const tag of after.tags.set) if (!before.tags.has(tag)) out.push([after.name, `domain-tag-add:${tag}`, [['tag', tag]]]);
  for (const tag of before.tags.set) if (!after.tags.has(tag)) out.push([after.name, `domain-tag-delete:${tag}`, [['tag', tag]]]);
}

/**
 * What changed between two snapshots, in the order a client can apply it:
 * new pools and qubes first, then the changes of each qube and of the
 * system, then the qubes and pools that are gone.
 */
export function storeChangeEvents(before: Qubes, after: Qubes): StoreEvent[] {
  const out: StoreEvent[] = [];
  for (const name of after.pools.keys()) if (!before.pools.has(name)) out.push(['', 'pool-add', [['pool', name]]]);
  for (const vm of after.domains.all()) if (!before.domains.get(vm.name)) out.push(['', 'domain-add', [['vm', vm.name]]]);
  propertyEvents('', before, after, out);
  for (const vm of after.domains.all()) {
    const old = before.domains.get(vm.name);
    if (!old || old.klass !== vm.klass || old.uuid !== vm.uuid) continue;
    propertyEvents(vm.name, old, vm, out);
    featureEvents(old, vm, out);
    tagEvents(old, vm, out);
  }
  for (const vm of before.domains.all()) {
    const now = after.domains.get(vm.name);
    if (!now) out.push(['', 'domain-delete', [['vm', vm.name]]]);
    else if (now.klass !== vm.klass || now.uuid !== vm.uuid) {
      // the same name, another qube (removed and created again between two looks)
      out.push(['', 'domain-delete', [['vm', vm.name]]]);
      out.push(['', 'domain-add', [['vm', vm.name]]]);
    }
  }
  for (const name of before.pools.keys()) if (!after.pools.has(name)) out.push(['', 'pool-delete', [['pool', name]]]);
  return out;
}
