// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Asking the user which qube gets a device: an `ask-to-attach` assignment,
 * or several running qubes whose assignments match a device that just
 * appeared. The question goes, as in the reference, to the socket service
 * `device-agent.GUI` of the GUI qube of dom0 (the device widget answers
 * it): a header `device-agent.GUI dom0 name dom0` and NUL, then the
 * parameters as JSON (source, device_name, argument, targets,
 * default_target, icons), then end of input; the answer `allow:QUBE`
 * names the chosen qube. Anything else, or no agent listening, chooses
 * nobody and the device stays unattached.
 *
 * The socket is looked up in the run directory (QUBES_RUN_DIR, default
 * /var/run/qubes). A GUI qube other than dom0 would be asked over qrexec,
 * which this build does not have: then nobody is chosen and that is said.
 *
 * Reference: qubes-core-admin: qubes/ext/utils.py
 * (confirm_device_attachment), qrexec/server.py (call_socket_service_local);
 * shared/spec/firewall-and-devices.md B4.
 */
import net from 'node:net';
import path from 'node:path';
import type { Qubes } from '../app/app.js';
import { runDir, type Env } from '../config.js';
import type { QubesVM } from '../vm/qubes-vm.js';

export const DEVICE_AGENT_SERVICE = 'device-agent.GUI';

export interface AttachQuestion {
  /** The backend qube. */
  source: string;
  /** The device as the user sees it (its description). */
  deviceName: string;
  /** The port in the backend. */
  port: string;
  /** The qubes that may get it, in the order offered. */
  targets: string[];
}

/** A qube chosen for a device, '' for none. */
export type ConfirmAttach = (q: AttachQuestion) => Promise<string>;

function icon(vm: QubesVM): string {
  try {
    return String(vm.get('icon') ?? '');
  } catch {
    return '';
  }
}

/** The request's parameters, with the reference's keys. */
function params(app: Qubes, q: AttachQuestion): Record<string, unknown> {
  return {
    source: q.source,
    device_name: q.deviceName,
    argument: q.port,
    targets: q.targets,
    default_target: q.targets.length === 1 ? q.targets[0] : '',
    icons: Object.fromEntries(app.domains.all().map((vm) => [vm.klass === 'DispVM' ? `@dispvm:${vm.name}` : vm.name, icon(vm)])),
  };
}

/** Send one request to a local socket service and read its whole answer (ASCII); `signal` gives up waiting. */
function callLocalService(socket: string, header: string, body: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.createConnection(socket);
    const abort = () => sock.destroy(new Error('no answer: the daemon is stopping'));
    if (signal?.aborted) abort();
    signal?.addEventListener('abort', abort, { once: true });
    sock.on('close', () => signal?.removeEventListener('abort', abort));
    sock.on('connect', () => {
      sock.write(Buffer.from(`${header}\0`, 'ascii'));
      sock.end(Buffer.from(body, 'ascii'));
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** The reference asks the GUI qube of dom0; a store without one asks dom0. */
function guiVmOfDom0(app: Qubes): string {
  try {
    return app.domains.get('dom0')?.vmRef('guivm')?.name ?? 'dom0';
  } catch {
    return 'dom0';
  }
}

/**
 * The confirmation of a store's GUI agent, waited for as long as the user
 * takes (until `signal`, when given). Failures (no agent, a GUI qube
 * reachable only over qrexec) are warned and choose nobody.
 */
export function guiAgentConfirm(app: Qubes, env: Env, warn: (m: string) => void, signal?: AbortSignal): ConfirmAttach {
  return async (q) => {
    const guivm = guiVmOfDom0(app);
    if (guivm !== 'dom0') {
      warn(`Cannot ask ${guivm} which qube gets ${q.source}:${q.port}: a GUI qube other than dom0 is asked over qrexec, which this build does not have`);
      return '';
    }
    let answer: string;
    try {
      const body = JSON.stringify(params(app, q)).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      answer = await callLocalService(path.join(runDir(env), DEVICE_AGENT_SERVICE), `${DEVICE_AGENT_SERVICE} dom0 name dom0`, body, signal);
    } catch (e) {
      warn(`Cannot ask which qube gets ${q.source}:${q.port}: ${(e as Error).message}`);
      return '';
    }
    const chosen = answer.startsWith('allow:') ? answer.slice('allow:'.length) : '';
    return q.targets.includes(chosen) ? chosen : '';
  };
}
