// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Errors that may be shown to a user. Names follow the reference
 * (qubes-core-admin: qubes/exc.py) so they can be grepped across code and
 * specs. Each class has a stable `code`, `EQUBES_` and the condition in
 * capitals, distinct per class and never changed once published (a new
 * class takes a new code; the README lists them, test/tools/error-codes.test.ts
 * keeps the list complete). How each maps to an exit code is decided in
 * one place: lib/tools/common/errors.ts.
 */

/** Any condition that can be shown to the user as a one-line message. */
export class QubesError extends Error {
  override name = 'QubesError';
  /** Stable identifier of the condition, for programs (README, "Error codes"); never changed once published. */
  readonly code: string = 'EQUBES_ERROR';
}

/** A value given by the user (or found in the store) is not acceptable. */
export class QubesValueError extends QubesError {
  override name = 'QubesValueError';
  override readonly code: string = 'EQUBES_VALUE';
}

/** A property refused a value. */
export class QubesPropertyValueError extends QubesValueError {
  override name = 'QubesPropertyValueError';
  override readonly code: string = 'EQUBES_PROPERTY_VALUE';
}

/** Property name unknown for this holder; the CLI reports it as a usage error. */
export class QubesNoSuchPropertyError extends QubesError {
  override name = 'QubesNoSuchPropertyError';
  override readonly code: string = 'EQUBES_NO_SUCH_PROPERTY';
  constructor(
    readonly property: string,
    message = `no such property: '${property}'`,
  ) {
    super(message);
  }
}

/** A qube named by the user does not exist; the CLI reports it as a usage error. */
export class QubesVMNotFoundError extends QubesError {
  override name = 'QubesVMNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_VM';
  constructor(
    readonly vmname: string,
    message = `no such domain: '${vmname}'`,
  ) {
    super(message);
  }
}

export class QubesLabelNotFoundError extends QubesValueError {
  override name = 'QubesLabelNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_LABEL';
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
  override readonly code: string = 'EQUBES_VM_IN_USE';
  constructor(
    message: string,
    readonly usages: readonly VmUsage[] = [],
  ) {
    super(message);
  }
}

export class QubesVMNotHaltedError extends QubesError {
  override name = 'QubesVMNotHaltedError';
  override readonly code: string = 'EQUBES_VM_NOT_HALTED';
}

/** The words of a firewall rule on the command line do not form a rule; the CLI reports it as a usage error. */
export class FirewallRuleSyntaxError extends QubesError {
  override name = 'FirewallRuleSyntaxError';
  override readonly code: string = 'EQUBES_FIREWALL_RULE_SYNTAX';
}

/** The store cannot be read, parsed or written. */
export class StoreError extends QubesError {
  override name = 'StoreError';
  override readonly code: string = 'EQUBES_STORE';
}

/** The store lock could not be taken in the allowed time. */
export class StoreLockError extends StoreError {
  override name = 'StoreLockError';
  override readonly code: string = 'EQUBES_STORE_LOCK';
}

/** Something needs the hypervisor, which is unreachable or switched off. */
export class VmmError extends QubesError {
  override name = 'VmmError';
  override readonly code: string = 'EQUBES_VMM';
}

export class VmmOfflineError extends VmmError {
  override name = 'VmmOfflineError';
  override readonly code: string = 'EQUBES_VMM_OFFLINE';
  constructor() {
    super('VMM operations disabled in offline mode');
  }
}

/**
 * libvirt cannot be reached or opened: the daemon is not running, its
 * socket is missing or refuses us, or the driver for the URI is not active.
 */
export class LibvirtUnreachableError extends VmmError {
  override name = 'LibvirtUnreachableError';
  override readonly code: string = 'EQUBES_LIBVIRT_UNREACHABLE';
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The connection to libvirt broke while a call waited for its reply; whether
 * that call took effect is unknown.
 */
export class LibvirtConnectionLostError extends LibvirtUnreachableError {
  override name = 'LibvirtConnectionLostError';
  override readonly code: string = 'EQUBES_LIBVIRT_CONNECTION_LOST';
}

/** The daemon sent bytes this client cannot read (a corrupt or foreign stream). */
export class LibvirtProtocolError extends VmmError {
  override name = 'LibvirtProtocolError';
  override readonly code: string = 'EQUBES_LIBVIRT_PROTOCOL';
}

/**
 * An error libvirt reported (virError): `libvirtCode` is the virErrorNumber
 * the subclasses are chosen by, `domain` the subsystem that raised it.
 * The message is libvirt's own.
 */
export class LibvirtError extends VmmError {
  override name = 'LibvirtError';
  override readonly code: string = 'EQUBES_LIBVIRT';
  constructor(
    message: string,
    readonly libvirtCode: number,
    readonly domain: number,
    readonly str1: string | null = null,
    readonly str2: string | null = null,
  ) {
    super(message);
  }
}

/** 42 VIR_ERR_NO_DOMAIN: no such domain (a lookup, or a handle whose domain was undefined). */
export class LibvirtNoDomainError extends LibvirtError {
  override name = 'LibvirtNoDomainError';
  override readonly code: string = 'EQUBES_LIBVIRT_NO_DOMAIN';
}
/** 55 VIR_ERR_OPERATION_INVALID: e.g. starting a running domain, stopping a stopped one. */
export class LibvirtOperationInvalidError extends LibvirtError {
  override name = 'LibvirtOperationInvalidError';
  override readonly code: string = 'EQUBES_LIBVIRT_OPERATION_INVALID';
}
/** 9 VIR_ERR_OPERATION_FAILED: e.g. a define clashing with another domain's name or UUID. */
export class LibvirtOperationFailedError extends LibvirtError {
  override name = 'LibvirtOperationFailedError';
  override readonly code: string = 'EQUBES_LIBVIRT_OPERATION_FAILED';
}
/** 8 VIR_ERR_INVALID_ARG: e.g. flags this daemon does not know. */
export class LibvirtInvalidArgError extends LibvirtError {
  override name = 'LibvirtInvalidArgError';
  override readonly code: string = 'EQUBES_LIBVIRT_INVALID_ARG';
}
/** 27, 35, 21, 92: malformed or invalid domain XML. */
export class LibvirtXmlError extends LibvirtError {
  override name = 'LibvirtXmlError';
  override readonly code: string = 'EQUBES_LIBVIRT_XML';
}
/** 16 VIR_ERR_OS_TYPE: the OS type (e.g. hvm) is not supported by the hypervisor. */
export class LibvirtOsTypeError extends LibvirtError {
  override name = 'LibvirtOsTypeError';
  override readonly code: string = 'EQUBES_LIBVIRT_OS_TYPE';
}
/** 67 VIR_ERR_CONFIG_UNSUPPORTED */
export class LibvirtConfigUnsupportedError extends LibvirtError {
  override name = 'LibvirtConfigUnsupportedError';
  override readonly code: string = 'EQUBES_LIBVIRT_CONFIG_UNSUPPORTED';
}
/** 29, 88: operation or access denied. */
export class LibvirtPermissionError extends LibvirtError {
  override name = 'LibvirtPermissionError';
  override readonly code: string = 'EQUBES_LIBVIRT_PERMISSION';
}
/** 39 VIR_ERR_RPC: the daemon refused the call as such (authentication, unknown program). */
export class LibvirtRpcError extends LibvirtError {
  override name = 'LibvirtRpcError';
  override readonly code: string = 'EQUBES_LIBVIRT_RPC';
}
/** 3, 84, 74, and an unknown procedure: not supported by this driver or daemon. */
export class LibvirtUnsupportedError extends LibvirtError {
  override name = 'LibvirtUnsupportedError';
  override readonly code: string = 'EQUBES_LIBVIRT_UNSUPPORTED';
}
/** 5 VIR_ERR_NO_CONNECT: no driver for the URI. */
export class LibvirtNoConnectError extends LibvirtError {
  override name = 'LibvirtNoConnectError';
  override readonly code: string = 'EQUBES_LIBVIRT_NO_CONNECT';
}
/** 1 VIR_ERR_INTERNAL_ERROR */
export class LibvirtInternalError extends LibvirtError {
  override name = 'LibvirtInternalError';
  override readonly code: string = 'EQUBES_LIBVIRT_INTERNAL';
}
/** 38 VIR_ERR_SYSTEM_ERROR: an I/O error in the daemon (e.g. virtlogd not running). */
export class LibvirtSystemError extends LibvirtError {
  override name = 'LibvirtSystemError';
  override readonly code: string = 'EQUBES_LIBVIRT_SYSTEM';
}
/** 6, 7: invalid connection or domain handle. */
export class LibvirtInvalidHandleError extends LibvirtError {
  override name = 'LibvirtInvalidHandleError';
  override readonly code: string = 'EQUBES_LIBVIRT_INVALID_HANDLE';
}
/** 68, 86, 87: a timeout, an unresponsive agent, a busy resource. */
export class LibvirtBusyError extends LibvirtError {
  override name = 'LibvirtBusyError';
  override readonly code: string = 'EQUBES_LIBVIRT_BUSY';
}

/** A storage pool or volume operation failed (reference: StoragePoolException). */
export class StoragePoolError extends QubesError {
  override name = 'StoragePoolError';
  override readonly code: string = 'EQUBES_STORAGE';
}

/** The pool is used by volumes or a default_pool* property and cannot be removed. */
export class QubesPoolInUseError extends QubesError {
  override name = 'QubesPoolInUseError';
  override readonly code: string = 'EQUBES_POOL_IN_USE';
}

/** No revision of that id (qvm-volume revert). */
export class QubesVolumeRevisionNotFoundError extends StoragePoolError {
  override name = 'QubesVolumeRevisionNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_REVISION';
}

/**
 * SIGINT or SIGTERM ended a create, clone, import or other data work; what
 * it had made is removed. `signal` is what the command then ends by.
 */
export class QubesCancelledError extends QubesError {
  override name = 'QubesCancelledError';
  override readonly code: string = 'EQUBES_CANCELLED';
  constructor(
    message: string,
    readonly signal: 'SIGINT' | 'SIGTERM' = 'SIGINT',
  ) {
    super(message);
  }
}

/** The qube must be running for this (a live device attach, for one). */
export class QubesVMNotRunningError extends QubesError {
  override name = 'QubesVMNotRunningError';
  override readonly code: string = 'EQUBES_VM_NOT_RUNNING';
}

/**
 * Device errors, named as the reference's (qubes-core-admin:
 * qubes/devices.py, qubes/exc.py ProtocolError).
 */
export class ProtocolError extends QubesError {
  override name = 'ProtocolError';
  override readonly code: string = 'EQUBES_PROTOCOL';
}

export class DeviceNotAssigned extends QubesError {
  override name = 'DeviceNotAssigned';
  override readonly code: string = 'EQUBES_DEVICE_NOT_ASSIGNED';
}

export class DeviceAlreadyAttached extends QubesError {
  override name = 'DeviceAlreadyAttached';
  override readonly code: string = 'EQUBES_DEVICE_ALREADY_ATTACHED';
}

export class DeviceAlreadyAssigned extends QubesError {
  override name = 'DeviceAlreadyAssigned';
  override readonly code: string = 'EQUBES_DEVICE_ALREADY_ASSIGNED';
}

/** A QubesDB request failed: the daemon refused it, or its answer made no sense. */
export class QubesDbError extends QubesError {
  override name = 'QubesDbError';
  override readonly code: string = 'EQUBES_QUBESDB';
}

/**
 * No QubesDB daemon answers for the qube: it is not running, or the
 * connection was lost (reference: qubesdb.DisconnectedError).
 */
export class DisconnectedError extends QubesDbError {
  override name = 'DisconnectedError';
  override readonly code: string = 'EQUBES_QUBESDB_DISCONNECTED';
}

/** The qube is already running (qvm-start without --skip-if-running). */
export class QubesVMAlreadyStartedError extends QubesError {
  override name = 'QubesVMAlreadyStartedError';
  override readonly code: string = 'EQUBES_VM_ALREADY_STARTED';
}

/** The qube is not running, for an action that needs it started (shutdown, kill). */
export class QubesVMNotStartedError extends QubesError {
  override name = 'QubesVMNotStartedError';
  override readonly code: string = 'EQUBES_VM_NOT_STARTED';
}

export class QubesVMNotPausedError extends QubesError {
  override name = 'QubesVMNotPausedError';
  override readonly code: string = 'EQUBES_VM_NOT_PAUSED';
}

/** The qube did not stop within its shutdown_timeout. */
export class QubesVMShutdownTimeoutError extends QubesError {
  override name = 'QubesVMShutdownTimeoutError';
  override readonly code: string = 'EQUBES_VM_SHUTDOWN_TIMEOUT';
}

/** A backup cannot be written, or an archive cannot be read or trusted (reference: QubesException in backup code). */
export class BackupError extends QubesError {
  override name = 'BackupError';
  override readonly code: string = 'EQUBES_BACKUP';
}

/** The machine cannot give the memory of one scrypt key derivation (refused before it starts, not killed halfway). */
export class KdfMemoryError extends BackupError {
  override name = 'KdfMemoryError';
  override readonly code: string = 'EQUBES_BACKUP_MEMORY';
}

/** The user cancelled a backup or restore (SIGINT/SIGTERM). */
export class BackupCancelledError extends BackupError {
  override name = 'BackupCancelledError';
  override readonly code: string = 'EQUBES_BACKUP_CANCELLED';
  constructor(
    message: string,
    readonly signal: 'SIGINT' | 'SIGTERM' = 'SIGINT',
  ) {
    super(message);
  }
}

/** An action this qube cannot do (a RemoteVM cannot be started here, a restore in progress blocks a start). */
export class QubesVMError extends QubesError {
  override name = 'QubesVMError';
  override readonly code: string = 'EQUBES_VM';
}

/**
 * A change no caller may make (a feature only the system keeps), or one
 * the calling qube may not make.
 */
export class PermissionDenied extends QubesError {
  override name = 'PermissionDenied';
  override readonly code: string = 'EQUBES_PERMISSION_DENIED';
}

/*
 * Admin API errors (qubesd): the reference's classes that the errors above
 * do not already stand for. Their names are what the daemon sends, and what
 * Qubes' client looks up in qubesadmin.exc. Reference: qubes/exc.py.
 */

/** A feature the request names is not set on the qube. */
export class QubesFeatureNotFoundError extends QubesError {
  override name = 'QubesFeatureNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_FEATURE';
  constructor(vmname: string, feature: string) {
    super(`Feature not set for domain ${vmname}: ${feature}`);
  }
}

/** A tag the request names is not set on the qube. */
export class QubesTagNotFoundError extends QubesError {
  override name = 'QubesTagNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_TAG';
  constructor(vmname: string, tag: string) {
    super(`Tag not set for domain ${vmname}: ${tag}`);
  }
}

/** A `uuid:` qube reference that is not a well-formed UUID. */
export class QubesVMInvalidUUIDError extends QubesError {
  override name = 'QubesVMInvalidUUIDError';
  override readonly code: string = 'EQUBES_INVALID_UUID';
  constructor(uuid: string) {
    super(`VM UUID is not valid: '${uuid}'`);
  }
}

/** A label that exists already (create) or that a qube still uses (remove); `shown` as the message names it. */
export class QubesLabelInUseError extends QubesError {
  override name = 'QubesLabelInUseError';
  override readonly code: string = 'EQUBES_LABEL_IN_USE';
  constructor(shown: string) {
    super(`Label is still in use: ${shown}`);
  }
}

/** A label name the Admin API refuses (empty, not in the safe set, digits only on creation). */
export class QubesInvalidLabelError extends ProtocolError {
  override name = 'QubesInvalidLabelError';
  override readonly code: string = 'EQUBES_INVALID_LABEL';
}

/** A label colour the Admin API refuses (not `0xRRGGBB`). */
export class QubesInvalidLabelValueError extends ProtocolError {
  override name = 'QubesInvalidLabelValueError';
  override readonly code: string = 'EQUBES_INVALID_LABEL_VALUE';
}

/** A qube of that name exists already (Admin API creation). */
export class QubesVMAlreadyExistsError extends QubesError {
  override name = 'QubesVMAlreadyExistsError';
  override readonly code: string = 'EQUBES_VM_EXISTS';
}

/** admin.vm.volume.CloneTo named a token no CloneFrom handed out (or one used already). */
export class QubesVolumeCopyTokenNotFoundError extends ProtocolError {
  override name = 'QubesVolumeCopyTokenNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_COPY_TOKEN';
}

/** A device argument that selects more than one device (Admin API device listings). */
export class DeviceNotFound extends QubesError {
  override name = 'DeviceNotFound';
  override readonly code: string = 'EQUBES_NO_SUCH_DEVICE';
}

/** admin.vm.device.*.Set.assignment with a mode other than required, ask-to-attach, auto-attach. */
export class QubesUnrecognizedDeviceAssignmentMode extends ProtocolError {
  override name = 'QubesUnrecognizedDeviceAssignmentMode';
  override readonly code: string = 'EQUBES_DEVICE_ASSIGNMENT_MODE';
}

/** admin.backup.* named a profile that /etc/qubes/backup does not have. */
export class QubesBackupProfileNotFoundError extends QubesError {
  override name = 'QubesBackupProfileNotFoundError';
  override readonly code: string = 'EQUBES_NO_SUCH_BACKUP_PROFILE';
}

/** admin.backup.Execute of a profile whose backup runs already. */
export class BackupAlreadyRunningError extends QubesError {
  override name = 'BackupAlreadyRunningError';
  override readonly code: string = 'EQUBES_BACKUP_RUNNING';
}
