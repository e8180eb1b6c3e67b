// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What the reference's admin extension decides about changes made through
 * the Admin API, which in current Qubes is how every tool changes a qube,
 * dom0's command-line tools included:
 *
 * - Features the system keeps for itself (preloaded disposables, a net
 *   qube change waiting for a paused qube) cannot be set or removed by
 *   anyone.
 * - `created-by-*` tags record which qube created a qube: a qube other
 *   than dom0 may not add or remove them (dom0's tools may).
 * - A qube whose creator has the feature `tag-created-vm-with` also gets
 *   the tags listed there (space-separated) when its `created-by-CREATOR`
 *   tag is added, so qubes made by a management qube can be told apart.
 *
 * The caller is a qube: dom0 for this suite's commands; the daemon will
 * pass the qube that made the call.
 *
 * Reference: qubes-core-admin: qubes/ext/admin.py (PROHIBITED_FEATURES,
 * on_feature_set_or_remove, on_tag_set_or_remove, on_tag_add),
 * qubes/api/admin.py (vm_create adds created-by-CALLER).
 */
import { PermissionDenied, QubesVMNotFoundError } from '../errors.js';
import type { QubesVM } from './qubes-vm.js';

export const PROHIBITED_FEATURES: readonly string[] = [
  'deferred-netvm-original',
  'preload-dispvm',
  'preload-dispvm-completed',
  'preload-dispvm-in-progress',
];

export const CREATED_BY_PREFIX = 'created-by-';

/** @throws PermissionDenied for a feature only the system may change */
export function assertFeatureChangeAllowed(feature: string): void {
  if (PROHIBITED_FEATURES.includes(feature))
    throw new PermissionDenied(`The feature ${feature} is kept by the system and cannot be set or removed`);
}

/** @throws PermissionDenied when a qube other than dom0 adds or removes a created-by-* tag */
export function assertTagChangeAllowed(caller: QubesVM, tag: string): void {
  if (tag.startsWith(CREATED_BY_PREFIX) && caller.klass !== 'AdminVM')
    throw new PermissionDenied(`Only dom0 may add or remove ${CREATED_BY_PREFIX}* tags (${tag}; asked by ${caller.name})`);
}

/**
 * Add a tag as the core does: a `created-by-CREATOR` tag also adds the
 * tags the creator lists in its `tag-created-vm-with` feature.
 * @throws QubesValueError for an invalid tag, QubesVMNotFoundError for a creator that does not exist
 */
export function addTag(vm: QubesVM, tag: string): void {
  if (vm.tags.has(tag)) return;
  if (tag.startsWith(CREATED_BY_PREFIX)) {
    const creatorName = tag.slice(CREATED_BY_PREFIX.length);
    const creator = vm.app.domains.get(creatorName);
    if (!creator) throw new QubesVMNotFoundError(creatorName);
    vm.tags.add(tag);
    for (const extra of (creator.features.get('tag-created-vm-with') ?? '').split(/\s+/).filter(Boolean)) vm.tags.add(extra);
    return;
  }
  vm.tags.add(tag);
}
