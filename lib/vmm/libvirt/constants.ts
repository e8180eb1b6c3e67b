// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * libvirt's public enums and flag bits that callers of the client pass or
 * receive (domain states, lifecycle events, start/stop/list flags).
 *
 * Reference: libvirt include/libvirt/libvirt-domain.h (go-libvirt
 * const.gen.go); shared/spec/libvirt-rpc.md §4.3–§5.
 */

/** virDomainState, every value: libvirt may report any of them. @public */
export enum DomainState {
  NoState = 0,
  Running = 1,
  Blocked = 2,
  Paused = 3,
  Shutdown = 4,
  Shutoff = 5,
  Crashed = 6,
  PmSuspended = 7,
}

/** virDomainEventType */
export enum DomainEvent {
  Defined = 0,
  Undefined = 1,
  Started = 2,
  Suspended = 3,
  Resumed = 4,
  Stopped = 5,
  Shutdown = 6,
  PmSuspended = 7,
  Crashed = 8,
}

export const DOMAIN_EVENT_ID_LIFECYCLE = 0;

export const CreateFlags = { StartPaused: 1, Autodestroy: 2, BypassCache: 4, ForceBoot: 8, Validate: 16 } as const;
/** virDomainDeviceModifyFlags (AFFECT_CURRENT is 0). */
export const DeviceModifyFlags = { Live: 1, Config: 2, Force: 4 } as const;
/** virConnectListAllDomainsFlags (the ones used here). */
export const ListDomainsFlags = { Active: 1 } as const;
export const StatsTypes = { State: 1, CpuTotal: 2, Balloon: 4, Vcpu: 8, Interface: 16, Block: 32 } as const;

/** remote_auth_type, every value: the server lists which it offers. @public */
export enum AuthType {
  None = 0,
  Sasl = 1,
  Polkit = 2,
}

/** virDrvFeature numbers asked with CONNECT_SUPPORTS_FEATURE. */
export const DrvFeature = { ProgramKeepalive: 10, RemoteEventCallback: 14, RemoteCloseCallback: 15 } as const;
