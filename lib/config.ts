// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Paths and fixed limits, with the environment overrides every command
 * honours. Reference: qubes-core-admin: qubes/config.py;
 * shared/spec/store-and-core-tools.md §1.1, §3.1.
 */
import path from 'node:path';

export interface Paths {
  /** qubes.xml */
  store: string;
  /** /var/lib/qubes: pool directories, vm-kernels. */
  baseDir: string;
}

export function pathsFromEnv(env: NodeJS.ProcessEnv = process.env): Paths {
  const baseDir = env.QUBES_BASE_DIR || '/var/lib/qubes';
  return {
    store: env.QUBES_XML_PATH || path.join(baseDir, 'qubes.xml'),
    baseDir,
  };
}

export const kernelsDir = (baseDir: string): string => path.join(baseDir, 'vm-kernels');

/**
 * The configuration of callback storage pools: a JSON object keyed by each
 * pool's `conf_id` (reference: qubes/storage/callback.py).
 * `QUBES_CALLBACK_CONFIG` names another file (tests).
 */
export function callbackConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.QUBES_CALLBACK_CONFIG || '/etc/qubes_callback.json';
}

/**
 * The Qubes Windows Tools ISO that `qvm-start --install-windows-tools`
 * attaches (package qubes-windows-tools; reference qvm_start.py).
 * `QUBES_WINDOWS_TOOLS_ISO` names another file (tests).
 */
export function windowsToolsIso(env: NodeJS.ProcessEnv = process.env): string {
  return env.QUBES_WINDOWS_TOOLS_ISO || '/usr/lib/qubes/qubes-windows-tools.iso';
}

/** qids are allocated from 1 up to (not including) this. */
export const MAX_QID = 10000;
export const MAX_DISPID = 10000;

/** How long a writer waits for the store lock before giving up (ms). */
export function lockTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.QUBES_LOCK_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 30000;
}

export const DEFAULT_LIBVIRT_URI = 'xen:///';

/**
 * The current time in milliseconds. `QUBES_TEST_NOW` (seconds since the
 * epoch, may have a fraction) replaces the clock; it exists so tests can
 * check when expiring firewall rules stop applying, and is not meant to be
 * set anywhere else.
 */
export function nowMs(env: NodeJS.ProcessEnv = process.env): number {
  const t = env.QUBES_TEST_NOW;
  if (t !== undefined && t !== '' && Number.isFinite(Number(t))) return Number(t) * 1000;
  return Date.now();
}

/**
 * Where the commands keep their V8 code cache (lib/launcher.ts): code, never
 * data, per user. `QUBES_CODE_CACHE_DIR` (absolute), else the XDG cache
 * directory; undefined when neither can be found (no cache then).
 */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const absolute = (p: string | undefined) => (p && path.isAbsolute(p) ? p : undefined);
  const own = absolute(env.QUBES_CODE_CACHE_DIR);
  if (own) return own;
  const base = absolute(env.XDG_CACHE_HOME) ?? (absolute(env.HOME) && path.join(env.HOME as string, '.cache'));
  return base && path.join(base, 'qubes-dom0-tools');
}

/**
 * Where qubesd makes its sockets: qubesd.sock (the Admin API),
 * qubesd.internal.sock and qubesd.misc.sock. `QUBESD_SOCKET_DIR` names
 * another directory (tests). Reference: qubes/api/*.py SOCKNAME.
 */
export function qubesdSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.QUBESD_SOCKET_DIR || '/var/run';
}

export const QUBESD_SOCKET = 'qubesd.sock';
export const QUBESD_INTERNAL_SOCKET = 'qubesd.internal.sock';
export const QUBESD_MISC_SOCKET = 'qubesd.misc.sock';

/**
 * How long qubesd waits for a client to finish sending its request (EOF)
 * before dropping it, so that a client that never does cannot hold a
 * connection for ever. `QUBESD_REQUEST_TIMEOUT_MS` overrides (tests).
 */
export function qubesdRequestTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.QUBESD_REQUEST_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 60000;
}
