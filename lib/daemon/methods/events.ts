// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.Events: `connection-established` first, then, until the client
 * goes away, every change of the store as the reference's events (see
 * store-events.ts), whoever made it. With a qube as destination, only the
 * events of that qube. Never followed by a success reply.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (events,
 * QubesMgmtEventsDispatcher).
 */
import type { Call } from '../method.js';

export async function eventsHandler(call: Call): Promise<void> {
  const only = call.dest.klass === 'AdminVM' ? undefined : call.dest.name;
  const unsubscribe = call.services.subscribe((subject, event, fields) => {
    if (only !== undefined && subject !== only) return;
    call.sendEvent(subject, event, fields);
  });
  try {
    call.sendEvent('', 'connection-established');
    await call.closed;
  } finally {
    unsubscribe();
  }
}
