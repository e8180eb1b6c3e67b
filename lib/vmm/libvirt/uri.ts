// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * libvirt connection URIs this client accepts (`xen`, `qemu` and `test`
 * drivers, optionally `+unix`, local only) and the UNIX socket each one
 * reaches, chosen as libvirt's remote driver does:
 *
 *   - `?socket=PATH` names the socket outright;
 *   - system URIs (and any URI when running as root): the per-driver daemon
 *     `/var/run/libvirt/virt<driver>d-sock` when it exists, else the
 *     monolithic `/var/run/libvirt/libvirt-sock` (`?mode=legacy|direct`
 *     forces one); this is also the default when neither exists;
 *   - `/session` URIs of an unprivileged user: the same names under
 *     `$XDG_RUNTIME_DIR/libvirt/`.
 *
 * The daemon is sent the URI without the transport and without the
 * parameters only the client reads (`socket`, `mode`).
 *
 * Reference: libvirt src/remote/remote_sockets.c remoteGetUNIXSocket,
 * remoteGetURIDaemonInfo; shared/spec/libvirt-rpc.md §1.1, §3.3.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { xdgRuntimeDir, type Env } from '../../config.js';
import { VmmError } from '../../errors.js';

export type LibvirtDriver = 'xen' | 'qemu' | 'test';
const DRIVERS: readonly string[] = ['xen', 'qemu', 'test'];
const CLIENT_PARAMS = new Set(['socket', 'mode']);

export interface LibvirtUri {
  /** As given (for messages). */
  text: string;
  driver: LibvirtDriver;
  /** What CONNECT_OPEN is sent. */
  openName: string;
  socketPath: string;
}

export interface SocketEnv {
  euid: number;
  runtimeDir: string | undefined;
  exists: (p: string) => boolean;
}

/** What choosing a socket looks at, from a command's environment. */
export const socketEnv = (env: Env): SocketEnv => ({
  euid: process.geteuid?.() ?? 0,
  runtimeDir: xdgRuntimeDir(env),
  exists: (p) => fs.existsSync(p),
});

/** @throws VmmError for a URI this client cannot use */
export function parseLibvirtUri(text: string, env: SocketEnv = socketEnv({})): LibvirtUri {
  const m = /^([A-Za-z][A-Za-z0-9.+-]*):\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(text);
  if (!m) throw new VmmError(`Not a libvirt URI: '${text}'`);
  const [scheme, server = '', uriPath = '/', query = ''] = [m[1] as string, m[2], m[3], m[4]];
  const [driver, transport] = scheme.toLowerCase().split('+', 2) as [string, string | undefined];
  if (!DRIVERS.includes(driver)) throw new VmmError(`Unsupported libvirt URI '${text}': the driver must be one of ${DRIVERS.join(', ')}`);
  if (transport !== undefined && transport !== 'unix')
    throw new VmmError(`Unsupported libvirt URI '${text}': only local UNIX socket connections are supported`);
  if (server !== '') throw new VmmError(`Unsupported libvirt URI '${text}': only local connections are supported (no host name)`);

  const params = query === '' ? [] : query.split('&').map((kv) => kv.split('=', 2).map(decodeURIComponent) as [string, string?]);
  const param = (k: string) => params.find(([n]) => n === k)?.[1];
  const kept = query === '' ? [] : query.split('&').filter((kv) => !CLIENT_PARAMS.has(decodeURIComponent(kv.split('=')[0] as string)));
  const openName = `${driver}://${uriPath}${kept.length ? '?' + kept.join('&') : ''}`;

  const mode = param('mode') ?? 'auto';
  if (!['auto', 'legacy', 'direct'].includes(mode)) throw new VmmError(`Unsupported libvirt URI '${text}': mode must be auto, legacy or direct`);
  const socketPath = param('socket') ?? chooseSocket(driver, uriPath, mode, env);
  return { text, driver: driver as LibvirtDriver, openName, socketPath };
}

function chooseSocket(driver: string, uriPath: string, mode: string, env: SocketEnv): string {
  const user = uriPath === '/session' && env.euid > 0;
  const dir = user ? path.join(env.runtimeDir ?? path.join(os.homedir(), '.cache'), 'libvirt') : '/var/run/libvirt';
  const direct = path.join(dir, `virt${driver}d-sock`);
  const legacy = path.join(dir, 'libvirt-sock');
  if (mode === 'direct') return direct;
  if (mode === 'legacy') return legacy;
  if (env.exists(direct)) return direct;
  return legacy;
}
