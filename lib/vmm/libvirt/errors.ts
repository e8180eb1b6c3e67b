// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A `remote_error` from the daemon → the typed error class for its code.
 * Only the code decides: the same condition arrives from different
 * subsystems (domain 10 QEMU or 20 DOMAIN for "domain is not running").
 *
 * Reference: libvirt include/libvirt/virterror.h; go-libvirt rpc.go
 * decodeError; shared/spec/libvirt-rpc.md §1.4.
 */
import {
  LibvirtBusyError,
  LibvirtConfigUnsupportedError,
  LibvirtError,
  LibvirtInternalError,
  LibvirtInvalidArgError,
  LibvirtInvalidHandleError,
  LibvirtNoConnectError,
  LibvirtNoDomainError,
  LibvirtOperationFailedError,
  LibvirtOperationInvalidError,
  LibvirtOsTypeError,
  LibvirtPermissionError,
  LibvirtRpcError,
  LibvirtSystemError,
  LibvirtUnsupportedError,
  LibvirtXmlError,
} from '../../errors.js';
import type { RemoteError } from './protocol.js';

export const ErrorCode = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  OS_TYPE: 16,
  NO_NAME: 21,
  XML_ERROR: 27,
  OPERATION_DENIED: 29,
  XML_DETAIL: 35,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  XML_INVALID_SCHEMA: 92,
} as const;

type ErrorClass = new (message: string, code: number, domain: number, str1?: string | null, str2?: string | null) => LibvirtError;

const BY_CODE = new Map<number, ErrorClass>([
  [ErrorCode.NO_DOMAIN, LibvirtNoDomainError],
  [ErrorCode.OPERATION_INVALID, LibvirtOperationInvalidError],
  [ErrorCode.OPERATION_FAILED, LibvirtOperationFailedError],
  [ErrorCode.INVALID_ARG, LibvirtInvalidArgError],
  [ErrorCode.XML_ERROR, LibvirtXmlError],
  [ErrorCode.XML_DETAIL, LibvirtXmlError],
  [ErrorCode.NO_NAME, LibvirtXmlError],
  [ErrorCode.XML_INVALID_SCHEMA, LibvirtXmlError],
  [ErrorCode.OS_TYPE, LibvirtOsTypeError],
  [ErrorCode.CONFIG_UNSUPPORTED, LibvirtConfigUnsupportedError],
  [ErrorCode.OPERATION_DENIED, LibvirtPermissionError],
  [ErrorCode.ACCESS_DENIED, LibvirtPermissionError],
  [ErrorCode.RPC, LibvirtRpcError],
  [ErrorCode.NO_SUPPORT, LibvirtUnsupportedError],
  [ErrorCode.OPERATION_UNSUPPORTED, LibvirtUnsupportedError],
  [ErrorCode.ARGUMENT_UNSUPPORTED, LibvirtUnsupportedError],
  [ErrorCode.NO_CONNECT, LibvirtNoConnectError],
  [ErrorCode.INTERNAL_ERROR, LibvirtInternalError],
  [ErrorCode.SYSTEM_ERROR, LibvirtSystemError],
  [ErrorCode.INVALID_CONN, LibvirtInvalidHandleError],
  [ErrorCode.INVALID_DOMAIN, LibvirtInvalidHandleError],
  [ErrorCode.OPERATION_TIMEOUT, LibvirtBusyError],
  [ErrorCode.AGENT_UNRESPONSIVE, LibvirtBusyError],
  [ErrorCode.RESOURCE_BUSY, LibvirtBusyError],
]);

export function libvirtErrorFrom(e: RemoteError): LibvirtError {
  const message = e.message ?? `libvirt error ${e.code}`;
  // an older daemon answers a procedure it lacks with RPC "unknown procedure"
  const cls = e.code === ErrorCode.RPC && /unknown procedure/.test(message) ? LibvirtUnsupportedError : (BY_CODE.get(e.code) ?? LibvirtError);
  return new cls(message, e.code, e.domain, e.str1, e.str2);
}
