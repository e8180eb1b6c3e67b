// SPDX-License-Identifier: GPL-2.0-or-later
/** Connecting to a Unix stream socket, and asking whether anybody listens on one. */
import net from 'node:net';

export function connectUnix(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    const fail = (e: Error) => reject(e);
    s.once('error', fail);
    s.once('connect', () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}

/** True when a process accepts connections on the socket (a leftover socket file answers ECONNREFUSED). */
export async function socketAnswers(socketPath: string): Promise<boolean> {
  try {
    (await connectUnix(socketPath)).destroy();
    return true;
  } catch {
    return false;
  }
}

/** The errno code of a failed connect, for messages. */
export const errnoCode = (e: unknown): string => (e as NodeJS.ErrnoException)?.code ?? String((e as Error)?.message ?? e);
