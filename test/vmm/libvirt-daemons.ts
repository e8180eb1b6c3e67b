// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Real libvirt daemons for the live tests (spec libvirt-rpc.md §7.2, §7.3).
 *
 * The system daemon (`qemu:///system`): started here, with virtlogd, when
 * its socket does not answer (no systemd in the test container), and left
 * running like a system service; never killed, since other tests and users
 * may share it. Needs root, libvirtd and qemu-system-x86_64
 * (scripts/test.sh installs them).
 *
 * A private daemon for the tests that kill and restart one: an
 * unprivileged session libvirtd (as `nobody` when we are root) with its
 * own runtime directory, serving the test driver; the test owns it
 * entirely and it exits by itself when left idle.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { lackingRoot, type Lacking } from '../needs.js';

export const SYSTEM_SOCKET = '/var/run/libvirt/libvirt-sock';
const LIBVIRTD = '/usr/sbin/libvirtd';
const VIRTLOGD = '/usr/sbin/virtlogd';
const QEMU = '/usr/bin/qemu-system-x86_64';

export function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function waitForSocket(socketPath: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await canConnect(socketPath)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${socketPath} did not come up within ${ms} ms`);
}

/** What the system-daemon tests lack here (test/needs.ts): root, and the programs scripts/test.sh installs as root. */
export function systemLibvirtdLacking(): Lacking {
  return { machine: lackingRoot(), installable: [LIBVIRTD, VIRTLOGD, QEMU].filter((f) => !fs.existsSync(f)) };
}

/**
 * What tests of the system daemon lack (theirs, `also`, added), and when
 * nothing, the daemon running: for describeLacking (test/needs.ts).
 */
export async function systemLibvirtdFor(also: Lacking = {}): Promise<Lacking> {
  const own = systemLibvirtdLacking();
  const lacking = { machine: [...(own.machine ?? []), ...(also.machine ?? [])], installable: [...(own.installable ?? []), ...(also.installable ?? [])] };
  if (!lacking.machine.length && !lacking.installable.length) await ensureSystemLibvirtd();
  return lacking;
}

/** Nothing lacking: the system's libvirtd and virtlogd, started unless they answer. @throws when they do not come up */
export async function ensureSystemLibvirtd(): Promise<void> {
  kvmForItsGroup();
  fs.mkdirSync('/var/log/libvirt', { recursive: true });
  fs.mkdirSync('/var/run/libvirt', { recursive: true });
  // starting QEMU domains needs virtlogd (without it: "Failed to connect socket to .../virtlogd-sock")
  if (!(await canConnect('/var/run/libvirt/virtlogd-sock'))) {
    spawnSync(VIRTLOGD, ['-d', '-p', '/var/run/libvirt/virtlogd.pid']);
    await waitForSocket('/var/run/libvirt/virtlogd-sock', 10000);
  }
  if (!(await canConnect(SYSTEM_SOCKET))) {
    // a second starter loses the pid-file race and exits; both then wait for the socket
    spawnSync(LIBVIRTD, ['-d']);
    await waitForSocket(SYSTEM_SOCKET, 30000);
  }
}

/**
 * Without udev (this test machine), /dev/kvm keeps the kernel's root-only
 * mode. libvirt then probes QEMU's capabilities as root with KVM, finds
 * KVM unusable for its QEMU user when it checks the cache, and probes
 * again on every define (30 s each here). Give the node to group kvm as
 * udev's rule would on any Debian host.
 */
function kvmForItsGroup(): void {
  const st = fs.statSync('/dev/kvm', { throwIfNoEntry: false });
  const kvm = spawnSync('getent', ['group', 'kvm'], { encoding: 'utf8' }).stdout.split(':')[2];
  if (!st || st.gid !== 0 || kvm === undefined) return;
  fs.chownSync('/dev/kvm', 0, Number(kvm));
  fs.chmodSync('/dev/kvm', 0o660);
}

export function virsh(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout.trim(), err: r.stderr.trim() };
}

/** A session libvirtd of its own, on its own socket, serving test:///default. */
export class PrivateDaemon {
  readonly dir: string;
  readonly socketPath: string;
  private child: ChildProcess | undefined;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libvirtd-private-'));
    fs.chmodSync(this.dir, 0o755);
    for (const d of ['run', 'home']) fs.mkdirSync(path.join(this.dir, d), { mode: 0o700 });
    if (process.getuid?.() === 0) for (const d of ['run', 'home']) fs.chownSync(path.join(this.dir, d), 65534, 65534);
    this.socketPath = path.join(this.dir, 'run', 'libvirt', 'libvirt-sock');
  }

  get uri(): string {
    return `test+unix:///default?socket=${this.socketPath}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What a private daemon lacks here (test/needs.ts). */
  static lacking(): Lacking {
    return { installable: fs.existsSync(LIBVIRTD) ? [] : [LIBVIRTD] };
  }

  async start(): Promise<void> {
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    this.child = spawn(LIBVIRTD, ['--timeout', '120'], {
      ...asNobody,
      cwd: this.dir,
      env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: path.join(this.dir, 'run'), HOME: path.join(this.dir, 'home') },
      stdio: 'ignore',
    });
    await waitForSocket(this.socketPath, 20000);
  }

  /** Send a signal; for SIGKILL/SIGTERM wait until the process is gone. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') await gone;
  }

  async stop(): Promise<void> {
    await this.signal('SIGCONT');
    await this.signal('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
