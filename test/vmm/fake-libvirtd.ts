// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A scripted libvirt daemon on a temporary UNIX socket, for the behaviour
 * a real daemon cannot be made to show on demand: replies out of order,
 * events between them, a connection cut after a call, silence, garbage.
 * It answers the opening calls itself (AUTH_LIST → none, SUPPORTS_FEATURE
 * → yes, CONNECT_OPEN, CONNECT_CLOSE) and keepalive PINGs (unless `hung`),
 * and hands every other call to the test's handler. Frames use the library's own codec, which the captured
 * vectors check separately (libvirt-codec.test.ts).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { P } from '../../lib/vmm/libvirt/procedures.js';
import {
  FrameDecoder,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  REMOTE_PROGRAM,
  encodeFrame,
  encodeRemoteError,
  type Frame,
} from '../../lib/vmm/libvirt/protocol.js';
import { XdrWriter } from '../../lib/vmm/libvirt/xdr.js';

export interface Peer {
  socket: net.Socket;
  /** Every frame received, keepalive included. */
  received: Frame[];
  reply(call: Frame, payload?: Buffer): void;
  error(call: Frame, code: number, message: string): void;
  /** A MESSAGE of the remote program (an event). */
  message(proc: number, payload: Buffer): void;
}

export type Handler = (call: Frame, peer: Peer) => void;

export interface FakeDaemon {
  socketPath: string;
  uri: string;
  peers: Peer[];
  close(): Promise<void>;
}

export async function fakeLibvirtd(handler: Handler, opts: { authTypes?: number[]; refuseOpen?: string; hung?: boolean } = {}): Promise<FakeDaemon> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-libvirtd-'));
  const socketPath = path.join(dir, 'sock');
  const peers: Peer[] = [];
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    const send = (h: Omit<Frame, 'payload' | 'vers' | 'prog'>, payload?: Buffer) =>
      socket.writable && socket.write(encodeFrame({ prog: REMOTE_PROGRAM, vers: 1, ...h }, payload));
    const peer: Peer = {
      socket,
      received: [],
      reply: (c, payload) => send({ proc: c.proc, type: MessageType.Reply, serial: c.serial, status: MessageStatus.Ok }, payload),
      error: (c, code, message) =>
        send({ proc: c.proc, type: MessageType.Reply, serial: c.serial, status: MessageStatus.Error }, encodeRemoteError({ code, domain: 10, message })),
      message: (proc, payload) => send({ proc, type: MessageType.Message, serial: 1, status: MessageStatus.Ok }, payload),
    };
    peers.push(peer);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const f of decoder.push(chunk)) {
        peer.received.push(f);
        if (f.prog === KEEPALIVE_PROGRAM) {
          if (f.proc === 1 && !opts.hung) socket.write(encodeFrame({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: 2, type: MessageType.Message, serial: 0, status: 0 }));
          continue;
        }
        if (f.proc === P.authList.proc) peer.reply(f, new XdrWriter().array(opts.authTypes ?? [0], (w, t) => w.int(t)).toBuffer());
        else if (f.proc === P.supportsFeature.proc) peer.reply(f, new XdrWriter().int(1).toBuffer());
        else if (f.proc === P.open.proc) opts.refuseOpen ? peer.error(f, 5, opts.refuseOpen) : peer.reply(f);
        else if (f.proc === P.close.proc) {
          peer.reply(f);
          socket.end();
        } else handler(f, peer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    uri: `test+unix:///default?socket=${socketPath}`,
    peers,
    close: () =>
      new Promise((resolve) => {
        for (const p of peers) p.socket.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

export const uhyper = (v: bigint) => new XdrWriter().uhyper(v).toBuffer();
