// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Who may call what. On the local sockets every call is dom0's own (the
 * sockets are for root and group qubes only), and dom0 may call anything.
 * A call whose source is another qube arrives through qrexec, which checked
 * its policy before connecting; the reference then asks its extensions
 * (event `admin-permission:METHOD` on the source qube), any of which may
 * refuse. This is that seam: a call from a qube is refused with
 * PermissionDenied unless a rule added here allows it. qrexec itself comes
 * with a later issue; until then no rule allows anything to a qube.
 *
 * Reference: qubes-core-admin: qubes/api/__init__.py
 * (fire_event_for_permission), qubes/api/admin.py.
 */
import { PermissionDenied } from '../errors.js';
import type { QubesVM } from '../vm/qubes-vm.js';

export interface PermissionRequest {
  method: string;
  src: QubesVM;
  dest: QubesVM;
  arg: string;
}

/** A rule answers true to allow, false to refuse, undefined to leave it to the next rule. */
export type PermissionRule = (req: PermissionRequest) => boolean | undefined;

export class AdminPermission {
  private readonly rules: PermissionRule[] = [];

  addRule(rule: PermissionRule): void {
    this.rules.push(rule);
  }

  /** @throws PermissionDenied */
  check(req: PermissionRequest): void {
    if (req.src.klass === 'AdminVM') return;
    for (const rule of this.rules) {
      const verdict = rule(req);
      if (verdict === true) return;
      if (verdict === false) break;
    }
    // the reference's PermissionDenied carries no message
    throw new PermissionDenied('');
  }
}

/**
 * The permission of a socket whose methods the reference leaves to
 * qrexec's policy alone (the misc API: a qube telling dom0 about itself):
 * every caller of the store may call them.
 */
export function policyOnlyPermission(): AdminPermission {
  const p = new AdminPermission();
  p.addRule(() => true);
  return p;
}
