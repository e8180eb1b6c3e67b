/**
 * Files no import can read as an image, made in `dir`: a FIFO, a listening
 * UNIX socket (closed by `close`), with a character device and a directory,
 * each with the words the commands use for it.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export interface SpecialFiles {
  /** [path, what it is] */
  files: [string, string][];
  fifo: string;
  close(): void;
}

export async function specialFiles(dir: string): Promise<SpecialFiles> {
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const sock = path.join(dir, 'sock');
  const server = net.createServer().listen(sock);
  await new Promise((r) => server.once('listening', r));
  return {
    files: [
      ['/dev/zero', 'a character device'],
      [fifo, 'a FIFO'],
      [sock, 'a socket'],
      [dir, 'a directory'],
    ],
    fifo,
    close: () => server.close(),
  };
}
