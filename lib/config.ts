// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Paths, fixed limits and the environment variables that override them:
 * the one place that names an environment variable or a run-time path.
 * Nothing here reads the process's environment: each function is given
 * the environment of the command (the runner's Session passes it), so the
 * library can serve several commands in one process with different
 * settings. Reference: qubes-core-admin: qubes/config.py;
 * shared/spec/store-and-core-tools.md §1.1, §3.1.
 */
import os from 'node:os';
import path from 'node:path';

/** The environment of one command (read-only to the library). */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Paths {
  /** qubes.xml */
  store: string;
  /** /var/lib/qubes: pool directories, vm-kernels. */
  baseDir: string;
}

export function pathsFromEnv(env: Env): Paths {
  const baseDir = env.QUBES_BASE_DIR || '/var/lib/qubes';
  return {
    store: env.QUBES_XML_PATH || path.join(baseDir, 'qubes.xml'),
    baseDir,
  };
}

export const kernelsDir = (baseDir: string): string => path.join(baseDir, 'vm-kernels');

/** qubesd's run directory: running markers, volume locks, start times, QubesDB sockets. */
export const DEFAULT_RUN_DIR = '/var/run/qubes';

/** The run directory; `QUBES_RUN_DIR` names another (tests). */
export const runDir = (env: Env): string => env.QUBES_RUN_DIR || DEFAULT_RUN_DIR;

/** Where the QubesDB sockets are: `QUBESDB_SOCKET_DIR`, else the run directory's default. */
export const qubesdbSocketDir = (env: Env): string => env.QUBESDB_SOCKET_DIR || DEFAULT_RUN_DIR;

/**
 * The variable through which a forked `qubesdb-daemon` is told the
 * descriptor on which to report that it listens (set by the daemon that
 * forks it, for that child only).
 */
export const QUBESDB_READY_FD_VAR = 'QUBESDB_READY_FD';

/** Another `qubesdb-daemon` program to start (`QUBESDB_DAEMON`), if any. */
export const qubesdbDaemonProgram = (env: Env): string | undefined => env.QUBESDB_DAEMON || undefined;

/**
 * Environment variables still accepted under an old name for one release,
 * with a warning: the device directory was `QUBES_DEV_ROOT` for device
 * enumeration and `QUBES_DEV_DIR` for storage; it is `QUBES_DEV_DIR`.
 */
const RENAMED: Record<string, string> = { QUBES_DEV_ROOT: 'QUBES_DEV_DIR' };

/** One warning per old variable name set in `env`. */
export function deprecatedEnvWarnings(env: Env): string[] {
  return Object.entries(RENAMED)
    .filter(([old]) => env[old] !== undefined && env[old] !== '')
    .map(([old, now]) => `${old} is deprecated and will be removed in the next release; use ${now}`);
}

/** Device nodes (the device-mapper control node, dm, loop, zvol and block devices): `QUBES_DEV_DIR`, default /dev. */
export const devDir = (env: Env): string => env.QUBES_DEV_DIR || env.QUBES_DEV_ROOT || '/dev';

/** Where the host's devices are read: sysfs, /dev, udev's database, /proc. */
export interface HostRoots {
  sys: string;
  dev: string;
  udev: string;
  proc: string;
}

/** `QUBES_SYSFS_ROOT` moves sysfs and /proc (its sibling) for tests; `QUBES_UDEV_DATA` udev's database. */
export function hostRoots(env: Env): HostRoots {
  const sys = env.QUBES_SYSFS_ROOT;
  return {
    sys: sys || '/sys',
    dev: devDir(env),
    udev: env.QUBES_UDEV_DATA || '/run/udev/data',
    proc: sys ? path.join(sys, '..', 'proc') : '/proc',
  };
}

/** The pci.ids/usb.ids directories searched: `QUBES_HWDATA_DIR`, else hwdata's and misc's. */
export const hwdataDirs = (env: Env): string[] => (env.QUBES_HWDATA_DIR ? [env.QUBES_HWDATA_DIR] : ['/usr/share/hwdata', '/usr/share/misc']);

/**
 * The configuration of callback storage pools: a JSON object keyed by each
 * pool's `conf_id` (reference: qubes/storage/callback.py).
 * `QUBES_CALLBACK_CONFIG` names another file (tests).
 */
export function callbackConfigPath(env: Env): string {
  return env.QUBES_CALLBACK_CONFIG || '/etc/qubes_callback.json';
}

/**
 * The Qubes Windows Tools ISO that `qvm-start --install-windows-tools`
 * attaches (package qubes-windows-tools; reference qvm_start.py).
 * `QUBES_WINDOWS_TOOLS_ISO` names another file (tests).
 */
export function windowsToolsIso(env: Env): string {
  return env.QUBES_WINDOWS_TOOLS_ISO || '/usr/lib/qubes/qubes-windows-tools.iso';
}

/** The domain XML override directories: `QUBES_TEMPLATE_PATH` (colon-separated). */
export const DEFAULT_TEMPLATE_PATH = ['/etc/qubes/templates', '/usr/share/qubes/templates'];
export function templateDirs(env: Env): string[] {
  const v = env.QUBES_TEMPLATE_PATH;
  return v ? v.split(':').filter((d) => d !== '') : DEFAULT_TEMPLATE_PATH;
}

/** Backup profiles (`qvm-backup --profile`): `QUBES_BACKUP_PROFILE_DIR`, default /etc/qubes/backup. */
export const backupProfileDir = (env: Env): string => env.QUBES_BACKUP_PROFILE_DIR || '/etc/qubes/backup';

/** Where dom0's home is and whose it is (QUBES_DOM0_HOME / QUBES_DOM0_USER override, for tests). */
export function dom0Home(env: Env): { user: string; home: string } {
  const home = env.QUBES_DOM0_HOME || os.homedir();
  const user = env.QUBES_DOM0_USER || path.basename(home) || os.userInfo().username;
  return { user, home };
}

/** Temporary files of a command (qvm-notes' editor file): `TMPDIR`, else the system's. */
export const tmpDir = (env: Env): string => env.TMPDIR || os.tmpdir();

/** The directories of `PATH`, for finding optional programs. */
export const searchPath = (env: Env): string[] => (env.PATH ?? '').split(':');

/** Whether `QUBES_OFFLINE_MODE` asks for offline mode (set, not empty, not 0). */
export function offlineModeVar(env: Env): boolean {
  const e = env.QUBES_OFFLINE_MODE;
  return e !== undefined && e !== '' && e !== '0';
}

export const DEFAULT_LIBVIRT_URI = 'xen:///';

/** The hypervisor: `LIBVIRT_DEFAULT_URI`, as libvirt's own clients take it. */
export const libvirtUri = (env: Env): string => env.LIBVIRT_DEFAULT_URI || DEFAULT_LIBVIRT_URI;

/** libvirt's per-user socket directory (`XDG_RUNTIME_DIR`), for a session URI. */
export const xdgRuntimeDir = (env: Env): string | undefined => env.XDG_RUNTIME_DIR;

/** The thin pool the installer made (`DEFAULT_LVM_POOL`, VG/THINPOOL), which the default pool prefers. */
export const defaultLvmPool = (env: Env): string | undefined => env.DEFAULT_LVM_POOL || undefined;

/** qids are allocated from 1 up to (not including) this. */
export const MAX_QID = 10000;
export const MAX_DISPID = 10000;

/** How long a writer waits for the store lock before giving up (ms). */
export function lockTimeoutMs(env: Env): number {
  const v = Number(env.QUBES_LOCK_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 30000;
}

/** The lock wait when no command's environment is at hand (the default of QUBES_LOCK_TIMEOUT_MS). */
export const DEFAULT_LOCK_TIMEOUT_MS = lockTimeoutMs({});

/**
 * The current time in milliseconds. `QUBES_TEST_NOW` (seconds since the
 * epoch, may have a fraction) replaces the clock; it exists so tests can
 * check when expiring firewall rules stop applying (and the dates qubesd
 * records for update checks), and is not meant to be set anywhere else.
 */
export function nowMs(env: Env): number {
  const t = env.QUBES_TEST_NOW;
  if (t !== undefined && t !== '' && Number.isFinite(Number(t))) return Number(t) * 1000;
  return Date.now();
}

/** Test hooks of qvm-backup: the chunk size and the scrypt cost (raw text; checked where used). */
export const backupChunkSize = (env: Env): number | undefined => (env.QUBES_BACKUP_CHUNK_SIZE ? Number(env.QUBES_BACKUP_CHUNK_SIZE) : undefined);
export const backupScryptLogN = (env: Env): string | undefined => env.QUBES_BACKUP_SCRYPT_LOGN;

/** `QUBES_NO_CODE_CACHE=1` runs a command without its code cache (lib/launcher.ts). */
export const codeCacheDisabled = (env: Env): boolean => env.QUBES_NO_CODE_CACHE === '1';

/**
 * Where the commands keep their V8 code cache (lib/launcher.ts): code, never
 * data, per user. `QUBES_CODE_CACHE_DIR` (absolute), else the XDG cache
 * directory; undefined when neither can be found (no cache then).
 */
export function codeCacheDir(env: Env): string | undefined {
  return absolute(env.QUBES_CODE_CACHE_DIR) ?? userCacheDir(env, 'qubes-dom0-tools');
}

const absolute = (p: string | undefined) => (p && path.isAbsolute(p) ? p : undefined);

/** `name` in the user's XDG cache directory (`$XDG_CACHE_HOME`, else `~/.cache`); undefined when neither is known. */
function userCacheDir(env: Env, name: string): string | undefined {
  const base = absolute(env.XDG_CACHE_HOME) ?? (absolute(env.HOME) && path.join(env.HOME as string, '.cache'));
  return base && path.join(base, name);
}

/** `QUBES_NO_STORE_CACHE=1` loads qubes.xml without the parsed-store cache (lib/app/store-cache.ts). */
export const storeCacheDisabled = (env: Env): boolean => env.QUBES_NO_STORE_CACHE === '1';

/**
 * Stores smaller than this are scanned, never cached: scanning a few dozen
 * qubes costs less than writing an entry (and every temporary store of the
 * test suite would write one). `QUBES_STORE_CACHE_MIN_BYTES` (a test hook).
 */
export function storeCacheMinBytes(env: Env): number {
  const n = Number(env.QUBES_STORE_CACHE_MIN_BYTES);
  return env.QUBES_STORE_CACHE_MIN_BYTES !== undefined && env.QUBES_STORE_CACHE_MIN_BYTES !== '' && Number.isSafeInteger(n) && n >= 0 ? n : 128 * 1024;
}

/**
 * Where the commands keep the parsed form of the store they last read
 * (lib/app/store-cache.ts): data, beside the code cache rather than in it.
 * `QUBES_STORE_CACHE_DIR` (absolute), else `qubes-dom0-tools-store` in the
 * XDG cache directory; undefined when none can be found or
 * `QUBES_NO_STORE_CACHE=1` (no cache then).
 */
export function storeCacheDir(env: Env): string | undefined {
  if (storeCacheDisabled(env)) return undefined;
  return absolute(env.QUBES_STORE_CACHE_DIR) ?? userCacheDir(env, 'qubes-dom0-tools-store');
}

/**
 * Where qubesd makes its sockets: qubesd.sock (the Admin API),
 * qubesd.internal.sock and qubesd.misc.sock. `QUBESD_SOCKET_DIR` names
 * another directory (tests). Reference: qubes/api/*.py SOCKNAME.
 */
export function qubesdSocketDir(env: Env): string {
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
export function qubesdRequestTimeoutMs(env: Env): number {
  const v = Number(env.QUBESD_REQUEST_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 60000;
}

/**
 * How often qubesd looks at dom0's block devices and at which qubes run
 * (dom0 has no QubesDB daemon to watch: its devices are read from sysfs,
 * whose files do not notify watchers, and udev's netlink events are out of
 * Node's reach).
 * `QUBESD_DEVICE_POLL_MS` overrides.
 */
export function qubesdDevicePollMs(env: Env): number {
  const v = Number(env.QUBESD_DEVICE_POLL_MS);
  return Number.isFinite(v) && v > 0 ? v : 1000;
}

/**
 * The environment of the key derivation process (lib/backup/kdf-process.ts):
 * glibc's tunables of the command with `glibc.malloc.hugetlb=1` added, so
 * that glibc (>= 2.35) asks transparent huge pages for scrypt's 1 GiB
 * allocation (older glibc ignores the tunable); nothing else of the
 * command's environment (NODE_OPTIONS among it) reaches that process.
 */
export function kdfProcessEnv(env: Env): Record<string, string> {
  const own = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t !== '' && !t.startsWith('glibc.malloc.hugetlb='));
  return { GLIBC_TUNABLES: [...own, 'glibc.malloc.hugetlb=1'].join(':') };
}
