// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The runtime facts of a start taken from this machine: dom0's time zone
 * (the /etc/localtime link), fresh random bytes, the clock (QUBES_TEST_NOW
 * honoured), the qubes' firewall files, and their domain ids from the VMM.
 *
 * Reference: qubes-core-admin: qubes/utils.py (get_timezone, urandom).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Qubes } from '../../app/app.js';
import { nowMs, type Env } from '../../config.js';
import { storedRules } from '../../firewall/firewall.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import type { StartRuntime } from './start-entries.js';
const { randomBytes } = crypto;

/** The zone name /etc/localtime links to (`…/zoneinfo/Europe/Paris` → `Europe/Paris`), or null. */
export function hostTimezone(localtime = '/etc/localtime'): string | null {
  try {
    const target = fs.readlinkSync(localtime);
    const at = target.indexOf('zoneinfo/');
    return at < 0 ? null : target.slice(at + 'zoneinfo/'.length) || null;
  } catch {
    return null;
  }
}

export interface HostRuntimeOptions {
  /** Domain ids (default: the store's VMM, which must have been refreshed for these qubes). */
  xid?: (vm: QubesVM) => number;
  /** The command's environment (its clock: QUBES_TEST_NOW). */
  env?: Env;
}

export function hostStartRuntime(app: Qubes, opts: HostRuntimeOptions = {}): StartRuntime {
  return {
    xid: opts.xid ?? ((vm) => (vm.klass === 'AdminVM' ? 0 : app.vmm.info(vm).xid)),
    timezone: hostTimezone(),
    randomSeed: randomBytes(64).toString('base64'),
    nowMs: nowMs(opts.env ?? {}),
    firewallRules: (vm) => storedRules(app, vm),
  };
}
