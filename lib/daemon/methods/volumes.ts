// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.volume.List (the qube's volume names in its configuration's
 * order; none for dom0), Info (`KEY=VALUE` lines in the reference's order)
 * and ListSnapshots (revision ids, oldest first), over the same storage
 * code as qvm-volume. The methods that change volumes are declared for the
 * second qubesd part.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_volume_*).
 */
import { revisionIds, volumeInfo, type VolumeRef } from '../../storage/volume-admin.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet } from '../../storage/qube-storage.js';
import { volumeAttr } from '../../vm/volume-config.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { enforceArg } from './pools.js';

const local = { scope: 'local', destAdminvm: null } as const;

const volumeNames = (call: Call) => (call.dest.klass === 'AdminVM' ? [] : call.dest.volumeConfig.map((c) => volumeAttr(c, 'name') ?? ''));

/** The volume the argument names, after the reference's check that it is one of the qube's. */
async function volumeOf(call: Call): Promise<VolumeRef> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const pools = new PoolSet(call.app, storageContext(call.services.env));
  return { vm: call.dest, name: call.arg, qv: (await pools.qube(call.dest)).require(call.arg), pools };
}

export const VOLUME_METHODS: MethodDecl[] = [
  method('admin.vm.volume.List', { ...local, wantsArg: false, wantsPayload: false }, (call) => volumeNames(call).map((n) => `${n}\n`).join('')),
  method('admin.vm.volume.Info', { ...local, wantsArg: true, wantsPayload: false }, async (call) =>
    (await volumeInfo(await volumeOf(call))).map(([k, v]) => `${k}=${v}\n`).join(''),
  ),
  method('admin.vm.volume.ListSnapshots', { ...local, wantsArg: true, wantsPayload: false }, async (call) =>
    (await revisionIds(await volumeOf(call))).map((r) => `${r}\n`).join(''),
  ),
  method('admin.vm.volume.Revert', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.volume.CloneFrom', { ...local, wantsArg: true, wantsPayload: false, write: true }),
  method('admin.vm.volume.CloneTo', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.volume.Resize', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.volume.Clear', { ...local, wantsArg: true, wantsPayload: false, write: true }),
  method('admin.vm.volume.Set.revisions_to_keep', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.volume.Set.rw', { ...local, wantsArg: true, wantsPayload: true, write: true }),
  method('admin.vm.volume.Set.ephemeral', { ...local, wantsArg: true, wantsPayload: true, write: true }),
];
