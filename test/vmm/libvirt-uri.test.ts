// Which socket a URI leads to and what the daemon is sent (libvirt's
// remote_sockets.c rules), with the file system and user given.
import { describe, expect, test } from '@jest/globals';
import { VmmError } from '../../lib/errors.js';
import { parseLibvirtUri, type SocketEnv } from '../../lib/vmm/libvirt/uri.js';

const env = (existing: string[] = [], euid = 0, runtimeDir = '/run/user/1000'): SocketEnv => ({ euid, runtimeDir, exists: (p) => existing.includes(p) });

describe('libvirt URIs', () => {
  test('system URIs: the per-driver daemon when its socket exists, else the monolithic libvirtd', () => {
    expect(parseLibvirtUri('qemu:///system', env())).toMatchObject({ driver: 'qemu', openName: 'qemu:///system', socketPath: '/var/run/libvirt/libvirt-sock' });
    expect(parseLibvirtUri('qemu:///system', env(['/var/run/libvirt/virtqemud-sock'])).socketPath).toBe('/var/run/libvirt/virtqemud-sock');
    expect(parseLibvirtUri('xen:///', env(['/var/run/libvirt/virtxend-sock'])).socketPath).toBe('/var/run/libvirt/virtxend-sock');
    expect(parseLibvirtUri('xen:///', env()).openName).toBe('xen:///');
    expect(parseLibvirtUri('test:///default', env()).socketPath).toBe('/var/run/libvirt/libvirt-sock');
  });

  test('mode= forces one; socket= names it; both are the client\'s and not sent to the daemon', () => {
    expect(parseLibvirtUri('qemu:///system?mode=direct', env()).socketPath).toBe('/var/run/libvirt/virtqemud-sock');
    expect(parseLibvirtUri('qemu:///system?mode=legacy', env(['/var/run/libvirt/virtqemud-sock'])).socketPath).toBe('/var/run/libvirt/libvirt-sock');
    const u = parseLibvirtUri('qemu+unix:///system?socket=/tmp/s&keep=1', env());
    expect([u.socketPath, u.openName, u.text]).toEqual(['/tmp/s', 'qemu:///system?keep=1', 'qemu+unix:///system?socket=/tmp/s&keep=1']);
  });

  test('session URIs of an unprivileged user use $XDG_RUNTIME_DIR; root keeps the system socket', () => {
    expect(parseLibvirtUri('qemu:///session', env([], 1000)).socketPath).toBe('/run/user/1000/libvirt/libvirt-sock');
    expect(parseLibvirtUri('qemu:///session', env(['/run/user/1000/libvirt/virtqemud-sock'], 1000)).socketPath).toBe('/run/user/1000/libvirt/virtqemud-sock');
    expect(parseLibvirtUri('qemu:///session', env([], 0)).socketPath).toBe('/var/run/libvirt/libvirt-sock');
  });

  test('other drivers, transports and remote hosts are refused', () => {
    for (const [uri, msg] of [
      ['lxc:///', 'the driver must be one of xen, qemu, test'],
      ['qemu+ssh://host/system', 'only local UNIX socket connections'],
      ['qemu://host/system', 'no host name'],
      ['not a uri', 'Not a libvirt URI'],
      ['qemu:///system?mode=fast', 'mode must be auto, legacy or direct'],
    ] as const) {
      expect(() => parseLibvirtUri(uri, env())).toThrow(VmmError);
      expect(() => parseLibvirtUri(uri, env())).toThrow(msg);
    }
  });
});
