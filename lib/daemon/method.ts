// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One Admin API method as the daemon's table declares it: everything the
 * framing checks, the qrexec policy and the documentation need, said once.
 *
 * A method of the reference that this daemon does not implement yet is
 * declared without a handler: it is then answered exactly as an unknown
 * method ("no such method") and left out of the generated policy, so that
 * nothing pretends to work.
 *
 * Reference: qubes-core-admin: qubes/api/__init__.py (the `method`
 * decorator); shared/spec/vmm.md §5.2, §5.4.
 */
import type { Qubes } from '../app/app.js';
import type { Store } from '../app/store.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { EventFields } from './wire.js';

export type Scope = 'local' | 'global';

/** true: required; false: forbidden; null: either. */
export type Wants = boolean | null;

export interface Call {
  method: string;
  /** The argument after `+` ('' when none). */
  arg: string;
  payload: Buffer;
  /** The calling qube (dom0 on the local sockets). */
  src: QubesVM;
  /** The destination qube. */
  dest: QubesVM;
  /** The `{endpoint}` the method name was made from (a class, a device class). */
  endpoint?: string;
  /** The store as it is now (reloaded when qubes.xml changed). */
  app: Qubes;
  /** Change the store under its lock and save; the change is announced to admin.Events. */
  write<T>(change: (app: Qubes) => T | Promise<T>): Promise<T>;
  /** Stream methods (admin.Events): send one event frame. */
  sendEvent(subject: string, event: string, fields?: EventFields): void;
  /** Resolves when the client goes away (stream methods wait for it). */
  closed: Promise<void>;
  /** The daemon's services beyond the store (event bus, environment). */
  services: DaemonServices;
}

/** What handlers may reach besides the call itself; grows with the method families. */
export interface DaemonServices {
  env: NodeJS.ProcessEnv;
  /** The store itself, for state kept beside qubes.xml under its lock (firewall.xml, notes). */
  store: Store;
  /** Warnings of handlers (the daemon's log). */
  warn(message: string): void;
  /** The store as it is now (reloaded when qubes.xml changed): for streams, which outlive their call's snapshot. */
  current(): Qubes;
  /** Subscribe to store changes as events; returns the unsubscribe function. */
  subscribe(listener: (subject: string, event: string, fields: EventFields) => void): () => void;
}

/** A handler returns the reply body (undefined: empty) or, for streams, nothing once the client left. */
export type Handler = (call: Call) => Promise<string | undefined | void> | string | undefined | void;

export interface MethodDecl {
  name: string;
  /** For `{endpoint}` names: the endpoint this row was made from. */
  endpoint?: string;
  scope: Scope;
  read: boolean;
  write: boolean;
  execute: boolean;
  /** true: the destination must be dom0; false: must not be; null: any. */
  destAdminvm: Wants;
  wantsArg: Wants;
  wantsPayload: Wants;
  /** Absent: declared by the reference, not implemented here (answered as unknown). */
  handler?: Handler;
}

type Access = { read?: boolean; write?: boolean; execute?: boolean };

/** A row with the reference's defaults (`read` is true unless said otherwise, as there). */
export function method(
  name: string,
  o: Access & { scope: Scope; destAdminvm: Wants; wantsArg: Wants; wantsPayload: Wants },
  handler?: Handler,
): MethodDecl {
  return {
    name,
    scope: o.scope,
    read: o.read ?? true,
    write: o.write ?? false,
    execute: o.execute ?? false,
    destAdminvm: o.destAdminvm,
    wantsArg: o.wantsArg,
    wantsPayload: o.wantsPayload,
    handler,
  };
}

/** Rows for a `{endpoint}` name, one per endpoint (VM classes, device classes). */
export function methods(
  pattern: string,
  endpoints: readonly string[],
  o: Parameters<typeof method>[1],
  handler?: Handler,
): MethodDecl[] {
  return endpoints.map((e) => ({ ...method(pattern.replace('{endpoint}', e), o, handler), endpoint: e }));
}
