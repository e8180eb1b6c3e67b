// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * RemoteVM: a qube of another machine, reached through a local relay qube
 * (Qubes Air). It is only a record: no volumes, no directory, no libvirt
 * domain, no network settings. Its power state is always Running, and it
 * cannot be started, stopped, paused or killed from here.
 *
 * Its own properties: the relay qube, the RPC service the relay uses, the
 * name the qube has on the remote machine, and include_in_backups (off by
 * default). The relay is also recorded as the tag `relayvm-RELAY`, which
 * qrexec policy can match.
 *
 * Reference: qubes-core-admin: qubes/vm/remotevm.py, qubes/ext/relay.py.
 */
import { QubesVMAlreadyStartedError, QubesVMError } from '../errors.js';
import type { PropertyDef } from './property.js';
import type { QubesVM } from './qubes-vm.js';

export const RELAY_TAG_PREFIX = 'relayvm-';

/** Keep the single `relayvm-NAME` tag in step with the relayvm property. */
export function syncRelayTag(vm: QubesVM): void {
  const relay = vm.get('relayvm');
  vm.tags.replacePrefixed(RELAY_TAG_PREFIX, typeof relay === 'string' ? relay : null);
}

export const REMOTE_VM_PROPERTIES: PropertyDef<QubesVM>[] = [
  { name: 'include_in_backups', type: 'bool', doc: 'Whether a backup includes this qube when no qubes are named (off for remote qubes).', default: () => false },
  {
    name: 'relayvm',
    type: 'vm',
    allowNone: true,
    loadStage: 4,
    doc: 'Local qube that relays calls to this remote qube (also recorded as the tag relayvm-NAME).',
    default: () => null,
    afterChange: syncRelayTag,
  },
  { name: 'transport_rpc', type: 'str', doc: 'RPC service the relay qube uses to reach the remote machine.', default: () => null },
  { name: 'remote_name', type: 'str', doc: 'Name of this qube on the remote machine (empty: the same name).', default: () => null },
];

/**
 * Lifecycle actions are refused for a remote qube. It always reads as
 * running, so a start is refused as for a running qube (`qvm-start
 * --skip-if-running` passes over it, as the reference's does).
 * @throws QubesVMAlreadyStartedError (start), QubesVMError (the others)
 */
export function refuseRemoteLifecycle(vm: QubesVM, action: 'start' | 'shut down' | 'kill' | 'pause' | 'unpause'): void {
  if (vm.klass !== 'RemoteVM') return;
  const message = `Cannot ${action} a RemoteVM (it runs on another machine)`;
  throw action === 'start' ? new QubesVMAlreadyStartedError(message) : new QubesVMError(message);
}
