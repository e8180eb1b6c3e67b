// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A libvirt connection with typed procedures, opened on first use and
 * shared by everything in one command.
 *
 * Opening: socket connect, AUTH_LIST (mandatory), AUTH_POLKIT when that is
 * the only method offered, keepalive negotiation, CONNECT_OPEN with the
 * URI. Any failure is one LibvirtUnreachableError naming the URI.
 *
 * A dropped connection is noticed (EOF, reset, keepalive silence); the next
 * call opens a new one, once, as the reference's connection wrapper does.
 * A call cut off by the drop is sent again on the new connection only when
 * it is harmless to repeat (lookups, state, listing); a cut-off start,
 * stop or define fails with LibvirtConnectionLostError because libvirt may
 * or may not have done it. Lifecycle subscriptions are registered again on
 * the new connection and `reconnect` listeners are told, so they can
 * re-read what changed meanwhile (events are lost while disconnected).
 *
 * Reference: qubes-core-admin qubes/app.py VirConnectWrapper; go-libvirt
 * libvirt.go; shared/spec/libvirt-rpc.md §3, §4; vmm.md §1.2, §1.4.
 */
import { LibvirtConnectionLostError, LibvirtProtocolError, LibvirtUnreachableError } from '../../errors.js';
import { AuthType, DOMAIN_EVENT_ID_LIFECYCLE, DrvFeature, StatsTypes, type DomainEvent } from './constants.js';
import { libvirtErrorFrom } from './errors.js';
import { Proc, P, decodeLifecycleMessage, decodeReply, encodeArgs, type DomainInfoRet, type DomainRef, type DomainStatsRecord, type NodeInfo, type Procedure } from './procedures.js';
import type { Frame } from './protocol.js';
import { RemoteCallError, RpcTransport, SocketConnectError, TransportClosedError, type KeepaliveSettings } from './transport.js';
import { parseLibvirtUri, type LibvirtUri } from './uri.js';
import { XdrError } from './xdr.js';

export interface ConnectionOptions {
  /** Socket to use instead of the one the URI leads to. */
  socketPath?: string;
  /** Socket connect timeout (go-libvirt's 15 s). */
  connectTimeoutMs?: number;
  /** Keepalive while waiting; false: none (the daemon then never pings us). */
  keepalive?: KeepaliveSettings | false;
  /** CONNECT_OPEN read-only: the daemon refuses anything that changes state. */
  readOnly?: boolean;
}

export interface LifecycleEvent {
  domain: DomainRef;
  event: DomainEvent;
  detail: number;
}

export type LifecycleListener = (e: LifecycleEvent) => void;

/** An active lifecycle subscription; keeps the process alive until closed. */
export interface Subscription {
  close(): Promise<void>;
}

const DEFAULT_KEEPALIVE: KeepaliveSettings = { intervalMs: 5000, count: 5 };

const procName = (proc: number): string => Object.entries(Proc).find(([, n]) => n === proc)?.[0] ?? `procedure ${proc}`;

export class LibvirtConnection {
  readonly uri: LibvirtUri;
  private transport: RpcTransport | undefined;
  private opening: Promise<RpcTransport> | undefined;
  private everOpened = false;
  private lifecycleCallbackId: number | undefined;
  private readonly lifecycleListeners = new Set<LifecycleListener>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly disconnectListeners = new Set<(why: Error) => void>();
  private readonly keepalive: KeepaliveSettings | false;
  /** How many sockets were opened (tests check laziness and reconnects). */
  connectCount = 0;

  constructor(
    uri: string | LibvirtUri,
    private readonly opts: ConnectionOptions = {},
  ) {
    this.uri = typeof uri === 'string' ? parseLibvirtUri(uri) : uri;
    if (opts.socketPath) this.uri = { ...this.uri, socketPath: opts.socketPath };
    this.keepalive = opts.keepalive === undefined ? DEFAULT_KEEPALIVE : opts.keepalive;
  }

  get isOpen(): boolean {
    return this.transport !== undefined && !this.transport.closed;
  }

  /** Open now (otherwise the first call does). */
  async open(): Promise<void> {
    await this.ensureOpen();
  }

  /**
   * CONNECT_CLOSE (the daemon drops our event callbacks with it) and drop
   * the socket. Idempotent; a later call opens again. A daemon that does
   * not answer within a second is not waited for.
   */
  async close(): Promise<void> {
    const t = this.transport;
    this.transport = undefined;
    this.everOpened = false;
    this.lifecycleCallbackId = undefined;
    this.lifecycleListeners.clear();
    if (!t || t.closed) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
    await Promise.race([this.send(t, P.close, undefined).catch(() => undefined), timeout]);
    clearTimeout(timer);
    t.destroy();
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.add(listener);
  }

  onDisconnect(listener: (why: Error) => void): void {
    this.disconnectListeners.add(listener);
  }

  // ---- connection ------------------------------------------------------------

  private ensureOpen(): Promise<RpcTransport> {
    if (this.transport && !this.transport.closed) return Promise.resolve(this.transport);
    this.opening ??= this.openTransport().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async openTransport(): Promise<RpcTransport> {
    const reconnect = this.everOpened;
    let t: RpcTransport;
    try {
      t = await RpcTransport.connect(this.uri.socketPath, this.opts.connectTimeoutMs ?? 15000, (f) => this.onMessage(f));
    } catch (e) {
      const why = e instanceof SocketConnectError ? e.message : String(e);
      const hint = e instanceof SocketConnectError && ['ENOENT', 'ECONNREFUSED'].includes(e.code ?? '') ? ' (is libvirtd running?)' : '';
      throw new LibvirtUnreachableError(this.uri.text, `Cannot connect to libvirt at ${this.uri.text}: ${why}${hint}`);
    }
    this.connectCount++;
    try {
      const auth = await this.rawCall(t, P.authList, undefined);
      if (!auth.includes(AuthType.None)) {
        if (!auth.includes(AuthType.Polkit)) throw new LibvirtUnreachableError(this.uri.text, `libvirt at ${this.uri.text} asks for an authentication this client lacks (SASL)`);
        await this.rawCall(t, P.authPolkit, undefined);
      }
      if (this.keepalive) {
        // asking for the feature starts the daemon's side of keepalive
        if (await this.rawCall(t, P.supportsFeature, DrvFeature.ProgramKeepalive)) t.startKeepalive(this.keepalive);
      }
      await this.rawCall(t, P.open, { name: this.uri.openName, flags: this.opts.readOnly ? 1 : 0 });
    } catch (e) {
      t.destroy();
      if (e instanceof LibvirtUnreachableError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new LibvirtUnreachableError(this.uri.text, `Cannot open libvirt connection ${this.uri.text}: ${why}`);
    }
    t.onClose((why) => {
      if (this.transport === t) for (const l of this.disconnectListeners) l(why);
    });
    this.transport = t;
    t.setHolds(this.lifecycleListeners.size);
    this.everOpened = true;
    if (reconnect) await this.afterReconnect(t);
    return t;
  }

  private async afterReconnect(t: RpcTransport): Promise<void> {
    // callback ids belong to the old connection
    const hadSubscription = this.lifecycleCallbackId !== undefined;
    this.lifecycleCallbackId = undefined;
    if (hadSubscription && this.lifecycleListeners.size > 0) await this.registerLifecycle(t);
    for (const l of this.reconnectListeners) l();
  }

  /**
   * One call on a given transport: daemon errors typed, a dropped
   * connection left as TransportClosedError for call() to judge.
   */
  private async send<A, R>(t: RpcTransport, p: Procedure<A, R>, args: A): Promise<R> {
    let payload: Buffer;
    try {
      payload = await t.call(p.proc, encodeArgs(p, args));
    } catch (e) {
      throw e instanceof RemoteCallError ? libvirtErrorFrom(e.remote) : e;
    }
    try {
      return decodeReply(p, payload);
    } catch (e) {
      if (e instanceof XdrError) throw new LibvirtProtocolError(`Unreadable reply to ${procName(p.proc)} from libvirt at ${this.uri.text}: ${e.message}`);
      throw e;
    }
  }

  /** send() with a dropped connection reported as such; no reconnect. */
  private async rawCall<A, R>(t: RpcTransport, p: Procedure<A, R>, args: A): Promise<R> {
    try {
      return await this.send(t, p, args);
    } catch (e) {
      throw e instanceof TransportClosedError ? this.lost(e, p) : e;
    }
  }

  private lost(e: TransportClosedError, p: Procedure<unknown, unknown>): LibvirtConnectionLostError {
    const unsure = e.sent && !p.idempotent ? '; it may or may not have taken effect' : '';
    return new LibvirtConnectionLostError(this.uri.text, `Lost the connection to libvirt at ${this.uri.text} during ${procName(p.proc)}: ${e.message}${unsure}`);
  }

  /**
   * A call on the shared connection, opening it first when needed. When
   * the connection turns out to have dropped, it is opened again once and
   * the call repeated if it had not been sent or is harmless to repeat.
   */
  async call<A, R>(p: Procedure<A, R>, args: A): Promise<R> {
    const t = await this.ensureOpen();
    try {
      return await this.send(t, p, args);
    } catch (e) {
      if (!(e instanceof TransportClosedError)) throw e;
      if (e.sent && !p.idempotent) throw this.lost(e, p);
      return this.rawCall(await this.ensureOpen(), p, args);
    }
  }

  // ---- events ----------------------------------------------------------------

  private onMessage(f: Frame): void {
    if (f.proc !== Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) return;
    let m;
    try {
      m = decodeLifecycleMessage(f.payload);
    } catch {
      return; // a malformed event cannot be acted on; replies are unaffected
    }
    if (m.callbackId !== this.lifecycleCallbackId) return;
    const e: LifecycleEvent = { domain: m.dom, event: m.event, detail: m.detail };
    for (const l of [...this.lifecycleListeners]) {
      try {
        l(e);
      } catch {
        // a listener's failure must not break the reader
      }
    }
  }

  private async registerLifecycle(t: RpcTransport): Promise<void> {
    this.lifecycleCallbackId = await this.rawCall(t, P.eventRegisterAny, { eventId: DOMAIN_EVENT_ID_LIFECYCLE, dom: null });
  }

  /**
   * Lifecycle events of all domains (define, start, suspend, resume, stop,
   * …). One daemon registration serves every listener; it survives
   * reconnects (events in between are lost: use onReconnect to resync).
   */
  async subscribeLifecycle(listener: LifecycleListener): Promise<Subscription> {
    const t = await this.ensureOpen();
    if (this.lifecycleCallbackId === undefined) await this.registerLifecycle(t);
    this.lifecycleListeners.add(listener);
    t.setHolds(this.lifecycleListeners.size);
    return {
      close: async () => {
        if (!this.lifecycleListeners.delete(listener)) return;
        const cur = this.transport;
        cur?.setHolds(this.lifecycleListeners.size);
        if (this.lifecycleListeners.size === 0 && this.lifecycleCallbackId !== undefined && cur && !cur.closed) {
          const id = this.lifecycleCallbackId;
          this.lifecycleCallbackId = undefined;
          await this.rawCall(cur, P.eventDeregisterAny, id).catch(() => undefined);
        }
      },
    };
  }

  // ---- typed procedures --------------------------------------------------------

  getType(): Promise<string> {
    return this.call(P.getType, undefined);
  }
  getUri(): Promise<string> {
    return this.call(P.getUri, undefined);
  }
  getHostname(): Promise<string> {
    return this.call(P.getHostname, undefined);
  }
  /** major·10⁶ + minor·10³ + micro */
  getLibVersion(): Promise<bigint> {
    return this.call(P.getLibVersion, undefined);
  }
  getVersion(): Promise<bigint> {
    return this.call(P.getVersion, undefined);
  }
  nodeInfo(): Promise<NodeInfo> {
    return this.call(P.nodeGetInfo, undefined);
  }
  /** Every domain (flags 0), or those the ListFlags bits select. */
  listAllDomains(flags = 0): Promise<DomainRef[]> {
    return this.call(P.listAllDomains, flags);
  }
  /** Stats of all domains (`doms` empty) or of the given ones, in one call. */
  allDomainStats(stats: number = StatsTypes.State, flags = 0, doms: DomainRef[] = []): Promise<DomainStatsRecord[]> {
    return this.call(P.allDomainStats, { doms, stats, flags });
  }
  /** @throws LibvirtNoDomainError */
  lookupByName(name: string): Promise<DomainRef> {
    return this.call(P.lookupByName, name);
  }
  /** @throws LibvirtNoDomainError */
  lookupByUuid(uuid: string): Promise<DomainRef> {
    return this.call(P.lookupByUuid, uuid);
  }
  /** @throws LibvirtNoDomainError */
  lookupById(id: number): Promise<DomainRef> {
    return this.call(P.lookupById, id);
  }
  /** Define (or redefine in place: same name and UUID) a persistent domain. */
  defineXml(xml: string, flags = 0): Promise<DomainRef> {
    return this.call(P.defineXml, { xml, flags });
  }
  undefine(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(P.undefine, { dom, flags });
  }
  /** Start a defined domain; returns the handle with its new id. */
  create(dom: DomainRef, flags = 0): Promise<DomainRef> {
    return this.call(P.create, { dom, flags });
  }
  destroy(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(P.destroy, { dom, flags });
  }
  /** Ask the guest to shut down; returns at once (the guest may ignore it). */
  shutdown(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(P.shutdown, { dom, flags });
  }
  suspend(dom: DomainRef): Promise<void> {
    return this.call(P.suspend, dom);
  }
  resume(dom: DomainRef): Promise<void> {
    return this.call(P.resume, dom);
  }
  getState(dom: DomainRef): Promise<{ state: number; reason: number }> {
    return this.call(P.getState, { dom, flags: 0 });
  }
  getInfo(dom: DomainRef): Promise<DomainInfoRet> {
    return this.call(P.getInfo, dom);
  }
  getXmlDesc(dom: DomainRef, flags = 0): Promise<string> {
    return this.call(P.getXmlDesc, { dom, flags });
  }
  /** Add a device (its XML) to a domain; `flags` DeviceModifyFlags (Live: the running domain only). */
  attachDevice(dom: DomainRef, xml: string, flags: number): Promise<void> {
    return this.call(P.attachDevice, { dom, xml, flags });
  }
  /** Remove the device the XML names (matched by libvirt on source and target). */
  detachDevice(dom: DomainRef, xml: string, flags: number): Promise<void> {
    return this.call(P.detachDevice, { dom, xml, flags });
  }
  isActive(dom: DomainRef): Promise<boolean> {
    return this.call(P.isActive, dom);
  }
  isPersistent(dom: DomainRef): Promise<boolean> {
    return this.call(P.isPersistent, dom);
  }
}
