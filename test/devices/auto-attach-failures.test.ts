// A start's auto-attach never fails the start (lib/ops/auto-attach.ts): a
// backend whose devices cannot be listed, or whose attached devices cannot
// be looked at, costs that assignment a warning; the other assignments are
// still attached. Unit level, the device services replaced by ones that fail.
import type { Qubes } from '../../lib/app/app.js';
import { ANY, type DeviceInfo } from '../../lib/devices/model.js';
import { attachAssignedAtStart, type AutoAttach } from '../../lib/ops/auto-attach.js';
import type { QubesVM } from '../../lib/vm/qubes-vm.js';

test('a backend that cannot be asked is a warning; the next assignment is still looked at', async () => {
  const asked: string[] = [];
  const warnings: string[] = [];
  const backend = (name: string) => ({ name }) as unknown as QubesVM;
  const app = { domains: { get: (n: string) => backend(n), sorted: () => { throw new Error('cannot list the domains'); } } } as unknown as Qubes;
  const assignment = (b: string) => ({ backend: b, port: ANY, identity: ANY, mode: 'auto-attach', options: {} });
  const vm = { name: 'work', devices: [{ devclass: 'block', assignments: [assignment('sys-broken'), assignment('sys-usb')] }] } as unknown as QubesVM;
  const ctx = {
    app,
    svc: {
      enumerator: {
        exposed: async (b: QubesVM) => {
          asked.push(b.name);
          if (b.name === 'sys-broken') throw new Error('its QubesDB does not answer');
          return [{ backend: 'sys-usb', devclass: 'block', portId: 'sda', deviceId: '*', unknown: false } as unknown as DeviceInfo];
        },
      },
    },
    confirm: async () => undefined,
    warn: (m: string) => warnings.push(m),
  } as unknown as AutoAttach;
  await expect(attachAssignedAtStart(ctx, vm)).resolves.toBeUndefined();
  expect(asked).toEqual(['sys-broken', 'sys-usb']);
  expect(warnings).toEqual([
    'work: block devices of sys-broken:* assigned (auto-attach) not looked at: its QubesDB does not answer',
    'work: block device sys-usb:sda assigned (auto-attach) was not attached: cannot list the domains',
  ]);
});
