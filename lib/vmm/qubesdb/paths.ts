// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Where the QubesDB sockets live, as the dom0 daemon lays them out:
 *
 *   daemon for qube NAME   DIR/qubesdb.NAME.sock   DIR/qubesdb.NAME.ro.sock
 *   local daemon           DIR/qubesdb.sock        DIR/qubesdb.ro.sock
 *
 * DIR is /var/run/qubes, or `QUBESDB_SOCKET_DIR` (for tests and for running
 * beside a real dom0). The pid file of a daemon sits next to its socket.
 *
 * Reference: qubes-core-qubesdb: include/qubesdb.h (QDB_DAEMON_PATH_PATTERN,
 * QDB_DAEMON_LOCAL_PATH), daemon/db-daemon.c; shared/spec/vmm.md §4.1, §4.2.
 */
import path from 'node:path';
import { qubesdbSocketDir, type Env } from '../../config.js';
import { QubesValueError } from '../../errors.js';

/** The socket directory of a command's environment (lib/config.ts). */
export const socketDir = (env: Env): string => qubesdbSocketDir(env);

export interface SocketPaths {
  rw: string;
  ro: string;
  pid: string;
}

/** sun_path holds 108 bytes, terminator included. */
const MAX_SOCKET_PATH = 107;

/** A qube name becomes part of a file name: refuse what could leave the directory. */
function checkName(name: string): string {
  if (name === '' || name.includes('/') || name.includes('\0') || name === '.' || name === '..')
    throw new QubesValueError(`invalid qube name for a QubesDB socket: '${name}'`);
  return name;
}

/** Sockets of the daemon for qube `name`, or of the local daemon when `name` is null. */
export function socketPaths(dir: string, name: string | null): SocketPaths {
  const base = name === null ? 'qubesdb' : `qubesdb.${checkName(name)}`;
  const p: SocketPaths = {
    rw: path.join(dir, `${base}.sock`),
    ro: path.join(dir, `${base}.ro.sock`),
    pid: path.join(dir, `${base}.pid`),
  };
  if (Buffer.byteLength(p.ro) > MAX_SOCKET_PATH) throw new QubesValueError(`QubesDB socket path too long for a Unix socket: ${p.ro}`);
  return p;
}

/** How a daemon is named in messages. */
export const daemonLabel = (name: string | null): string => (name === null ? 'the local QubesDB daemon' : `the QubesDB daemon of ${name}`);
