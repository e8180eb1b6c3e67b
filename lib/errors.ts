// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Errors that may be shown to a user. Names follow the reference
 * (qubes-core-admin: qubes/exc.py) so they can be grepped across code and
 * specs. How each maps to an exit code is decided in one place:
 * lib/tools/common/errors.ts.
 */

/** Any condition that can be shown to the user as a one-line message. */
export class QubesError extends Error {
  override name = 'QubesError';
}

/** A value given by the user (or found in the store) is not acceptable. */
export class QubesValueError extends QubesError {
  override name = 'QubesValueError';
}

/** A property refused a value. */
export class QubesPropertyValueError extends QubesValueError {
  override name = 'QubesPropertyValueError';
}

/** Property name unknown for this holder; the CLI reports it as a usage error. */
export class QubesNoSuchPropertyError extends QubesError {
  override name = 'QubesNoSuchPropertyError';
  constructor(readonly property: string) {
    super(`no such property: '${property}'`);
  }
}

/** A qube named by the user does not exist; the CLI reports it as a usage error. */
export class QubesVMNotFoundError extends QubesError {
  override name = 'QubesVMNotFoundError';
  constructor(readonly vmname: string) {
    super(`no such domain: '${vmname}'`);
  }
}

export class QubesLabelNotFoundError extends QubesValueError {
  override name = 'QubesLabelNotFoundError';
  constructor(readonly label: string) {
    super(`Label does not exist: ${label}`);
  }
}

/** Where a qube is referenced: a global property (holder null) or another qube's property. */
export interface VmUsage {
  holder: string | null;
  prop: string;
}

/** The qube is referenced elsewhere and cannot be removed; `usages` says where. */
export class QubesVMInUseError extends QubesError {
  override name = 'QubesVMInUseError';
  constructor(
    message: string,
    readonly usages: readonly VmUsage[] = [],
  ) {
    super(message);
  }
}

export class QubesVMNotHaltedError extends QubesError {
  override name = 'QubesVMNotHaltedError';
}

/** The words of a firewall rule on the command line do not form a rule; the CLI reports it as a usage error. */
export class FirewallRuleSyntaxError extends QubesError {
  override name = 'FirewallRuleSyntaxError';
}

/** The store cannot be read, parsed or written. */
export class StoreError extends QubesError {
  override name = 'StoreError';
}

/** The store lock could not be taken in the allowed time. */
export class StoreLockError extends StoreError {
  override name = 'StoreLockError';
}

/** Something needs the hypervisor, which is unreachable or switched off. */
export class VmmError extends QubesError {
  override name = 'VmmError';
}

export class VmmOfflineError extends VmmError {
  override name = 'VmmOfflineError';
  constructor() {
    super('VMM operations disabled in offline mode');
  }
}

/** A storage pool or volume operation failed (reference: StoragePoolException). */
export class StoragePoolError extends QubesError {
  override name = 'StoragePoolError';
}

/** The pool is used by volumes or a default_pool* property and cannot be removed. */
export class QubesPoolInUseError extends QubesError {
  override name = 'QubesPoolInUseError';
}

/** No revision of that id (qvm-volume revert). */
export class QubesVolumeRevisionNotFoundError extends StoragePoolError {
  override name = 'QubesVolumeRevisionNotFoundError';
}

/** The qube must be running for this (a live device attach, for one). */
export class QubesVMNotRunningError extends QubesError {
  override name = 'QubesVMNotRunningError';
}

/**
 * Device errors, named as the reference's (qubes-core-admin:
 * qubes/devices.py, qubes/exc.py ProtocolError).
 */
export class ProtocolError extends QubesError {
  override name = 'ProtocolError';
}

export class DeviceNotAssigned extends QubesError {
  override name = 'DeviceNotAssigned';
}

export class DeviceAlreadyAttached extends QubesError {
  override name = 'DeviceAlreadyAttached';
}

export class DeviceAlreadyAssigned extends QubesError {
  override name = 'DeviceAlreadyAssigned';
}

/** The device at a port is not the one the request named. */
export class UnrecognizedDevice extends QubesError {
  override name = 'UnrecognizedDevice';
}

/** A QubesDB request failed: the daemon refused it, or its answer made no sense. */
export class QubesDbError extends QubesError {
  override name = 'QubesDbError';
}

/**
 * No QubesDB daemon answers for the qube: it is not running, or the
 * connection was lost (reference: qubesdb.DisconnectedError).
 */
export class DisconnectedError extends QubesDbError {
  override name = 'DisconnectedError';
}

/** A backup cannot be written, or an archive cannot be read or trusted (reference: QubesException in backup code). */
export class BackupError extends QubesError {
  override name = 'BackupError';
}

/** The user cancelled a backup or restore (SIGINT/SIGTERM). */
export class BackupCancelledError extends BackupError {
  override name = 'BackupCancelledError';
  constructor(
    message: string,
    readonly signal: 'SIGINT' | 'SIGTERM' = 'SIGINT',
  ) {
    super(message);
  }
}
