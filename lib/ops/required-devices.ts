// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube with a required block device starts only when the device is
 * there: its backend exposes a device that the assignment matches (at its
 * port, or anywhere with its identity). Checked before any work of the
 * start, as the reference does; a required PCI device that is not on this
 * machine is refused when the domain is rendered (domain-params.ts).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py start (required
 * assignments, "... not available"); qubes/device_protocol.py
 * (DeviceAssignment.devices).
 */
import type { Qubes } from '../app/app.js';
import { matches } from '../devices/model.js';
import { assignmentDevice } from '../devices/operations.js';
import { deviceEnumerator } from '../devices/services.js';
import { QubesError } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import type { Session } from './session.js';

const DEVCLASS = 'block';

/** @throws QubesError `Block device BACKEND:PORT:ID not available` for the first required block device missing */
export async function assertRequiredDevicesPresent(app: Qubes, vm: QubesVM, session: Pick<Session, 'env' | 'hostRoots' | 'warn'>): Promise<void> {
  const required = vm.devices.find((d) => d.devclass === DEVCLASS)?.assignments.filter((a) => a.mode === 'required') ?? [];
  if (!required.length) return;
  const enumerator = deviceEnumerator(app, session.hostRoots, session.env, (m) => session.warn(m));
  for (const a of required) {
    const backend = app.domains.get(a.backend);
    const exposed = backend ? await enumerator.exposed(backend, DEVCLASS) : [];
    if (!exposed.some((d) => matches(assignmentDevice(a, DEVCLASS), d)))
      throw new QubesError(`Block device ${a.backend}:${a.port}:${a.identity} not available`);
  }
}
