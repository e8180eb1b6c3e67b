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
  constructor(
    readonly vmname: string,
    message = `no such domain: '${vmname}'`,
  ) {
    super(message);
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

/**
 * libvirt cannot be reached or opened: the daemon is not running, its
 * socket is missing or refuses us, or the driver for the URI is not active.
 */
export class LibvirtUnreachableError extends VmmError {
  override name = 'LibvirtUnreachableError';
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
}

/** The daemon sent bytes this client cannot read (a corrupt or foreign stream). */
export class LibvirtProtocolError extends VmmError {
  override name = 'LibvirtProtocolError';
}

/**
 * An error libvirt reported (virError): `code` is the virErrorNumber the
 * subclasses are chosen by, `domain` the subsystem that raised it.
 * The message is libvirt's own.
 */
export class LibvirtError extends VmmError {
  override name = 'LibvirtError';
  constructor(
    message: string,
    readonly code: number,
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
}
/** 55 VIR_ERR_OPERATION_INVALID: e.g. starting a running domain, stopping a stopped one. */
export class LibvirtOperationInvalidError extends LibvirtError {
  override name = 'LibvirtOperationInvalidError';
}
/** 9 VIR_ERR_OPERATION_FAILED: e.g. a define clashing with another domain's name or UUID. */
export class LibvirtOperationFailedError extends LibvirtError {
  override name = 'LibvirtOperationFailedError';
}
/** 8 VIR_ERR_INVALID_ARG: e.g. flags this daemon does not know. */
export class LibvirtInvalidArgError extends LibvirtError {
  override name = 'LibvirtInvalidArgError';
}
/** 27, 35, 21, 92: malformed or invalid domain XML. */
export class LibvirtXmlError extends LibvirtError {
  override name = 'LibvirtXmlError';
}
/** 16 VIR_ERR_OS_TYPE: the OS type (e.g. hvm) is not supported by the hypervisor. */
export class LibvirtOsTypeError extends LibvirtError {
  override name = 'LibvirtOsTypeError';
}
/** 67 VIR_ERR_CONFIG_UNSUPPORTED */
export class LibvirtConfigUnsupportedError extends LibvirtError {
  override name = 'LibvirtConfigUnsupportedError';
}
/** 29, 88: operation or access denied. */
export class LibvirtPermissionError extends LibvirtError {
  override name = 'LibvirtPermissionError';
}
/** 39 VIR_ERR_RPC: the daemon refused the call as such (authentication, unknown program). */
export class LibvirtRpcError extends LibvirtError {
  override name = 'LibvirtRpcError';
}
/** 3, 84, 74, and an unknown procedure: not supported by this driver or daemon. */
export class LibvirtUnsupportedError extends LibvirtError {
  override name = 'LibvirtUnsupportedError';
}
/** 5 VIR_ERR_NO_CONNECT: no driver for the URI. */
export class LibvirtNoConnectError extends LibvirtError {
  override name = 'LibvirtNoConnectError';
}
/** 1 VIR_ERR_INTERNAL_ERROR */
export class LibvirtInternalError extends LibvirtError {
  override name = 'LibvirtInternalError';
}
/** 38 VIR_ERR_SYSTEM_ERROR: an I/O error in the daemon (e.g. virtlogd not running). */
export class LibvirtSystemError extends LibvirtError {
  override name = 'LibvirtSystemError';
}
/** 6, 7: invalid connection or domain handle. */
export class LibvirtInvalidHandleError extends LibvirtError {
  override name = 'LibvirtInvalidHandleError';
}
/** 68, 86, 87: a timeout, an unresponsive agent, a busy resource. */
export class LibvirtBusyError extends LibvirtError {
  override name = 'LibvirtBusyError';
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

/**
 * SIGINT or SIGTERM ended a create, clone, import or other data work; what
 * it had made is removed. `signal` is what the command then ends by.
 */
export class QubesCancelledError extends QubesError {
  override name = 'QubesCancelledError';
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

/** The qube is already running (qvm-start without --skip-if-running). */
export class QubesVMAlreadyStartedError extends QubesError {
  override name = 'QubesVMAlreadyStartedError';
}

/** The qube is not running, for an action that needs it started (shutdown, kill). */
export class QubesVMNotStartedError extends QubesError {
  override name = 'QubesVMNotStartedError';
}

export class QubesVMNotPausedError extends QubesError {
  override name = 'QubesVMNotPausedError';
}

/** The qube did not stop within its shutdown_timeout. */
export class QubesVMShutdownTimeoutError extends QubesError {
  override name = 'QubesVMShutdownTimeoutError';
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

/** An action this qube cannot do (a RemoteVM cannot be started here, a restore in progress blocks a start). */
export class QubesVMError extends QubesError {
  override name = 'QubesVMError';
}

/**
 * A change no caller may make (a feature only the system keeps), or one
 * the calling qube may not make.
 */
export class PermissionDenied extends QubesError {
  override name = 'PermissionDenied';
}

/*
 * Admin API errors (qubesd): the reference's classes that the errors above
 * do not already stand for. Their names are what the daemon sends, and what
 * Qubes' client looks up in qubesadmin.exc. Reference: qubes/exc.py.
 */

/** A feature the request names is not set on the qube. */
export class QubesFeatureNotFoundError extends QubesError {
  override name = 'QubesFeatureNotFoundError';
  constructor(vmname: string, feature: string) {
    super(`Feature not set for domain ${vmname}: ${feature}`);
  }
}

/** A tag the request names is not set on the qube. */
export class QubesTagNotFoundError extends QubesError {
  override name = 'QubesTagNotFoundError';
  constructor(vmname: string, tag: string) {
    super(`Tag not set for domain ${vmname}: ${tag}`);
  }
}

/** A `uuid:` qube reference that is not a well-formed UUID. */
export class QubesVMInvalidUUIDError extends QubesError {
  override name = 'QubesVMInvalidUUIDError';
  constructor(uuid: string) {
    super(`VM UUID is not valid: '${uuid}'`);
  }
}

/** A label that exists already (create) or that a qube still uses (remove); `shown` as the message names it. */
export class QubesLabelInUseError extends QubesError {
  override name = 'QubesLabelInUseError';
  constructor(shown: string) {
    super(`Label is still in use: ${shown}`);
  }
}

/** A label name the Admin API refuses (empty, not in the safe set, digits only on creation). */
export class QubesInvalidLabelError extends ProtocolError {
  override name = 'QubesInvalidLabelError';
}

/** A label colour the Admin API refuses (not `0xRRGGBB`). */
export class QubesInvalidLabelValueError extends ProtocolError {
  override name = 'QubesInvalidLabelValueError';
}

/** A qube of that name exists already (Admin API creation). */
export class QubesVMAlreadyExistsError extends QubesError {
  override name = 'QubesVMAlreadyExistsError';
}

/** admin.vm.volume.CloneTo named a token no CloneFrom handed out (or one used already). */
export class QubesVolumeCopyTokenNotFoundError extends ProtocolError {
  override name = 'QubesVolumeCopyTokenNotFoundError';
}

/** A device argument that selects more than one device (Admin API device listings). */
export class DeviceNotFound extends QubesError {
  override name = 'DeviceNotFound';
}

/** admin.vm.device.*.Set.assignment with a mode other than required, ask-to-attach, auto-attach. */
export class QubesUnrecognizedDeviceAssignmentMode extends ProtocolError {
  override name = 'QubesUnrecognizedDeviceAssignmentMode';
}

/** admin.backup.* named a profile that /etc/qubes/backup does not have. */
export class QubesBackupProfileNotFoundError extends QubesError {
  override name = 'QubesBackupProfileNotFoundError';
}

/** admin.backup.Execute of a profile whose backup runs already. */
export class BackupAlreadyRunningError extends QubesError {
  override name = 'BackupAlreadyRunningError';
}
