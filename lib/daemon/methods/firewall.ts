// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.firewall.Get (the rules in force, one per line in the API's
 * text form), Set (replace them all: one rule per payload line) and Reload
 * (write them again into the running net qube's QubesDB), over the same
 * firewall.xml code as qvm-firewall. Set reloads as qvm-firewall does.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_firewall_*),
 * qubes/firewall.py (Rule.from_api_string, api_rule).
 */
import { nowMs } from '../../config.js';
import { ProtocolError } from '../../errors.js';
import { changeRules, currentRules } from '../../firewall/firewall.js';
import { apiForm, parseRuleText } from '../../firewall/rule-text.js';
import { reloadFirewallFor } from '../../ops/firewall-reload.js';
import { method, type Call, type MethodDecl } from '../method.js';

const local = { scope: 'local', destAdminvm: false, wantsArg: false } as const;

async function reload(call: Call): Promise<void> {
  const app = call.services.store.read();
  const vm = app.domains.get(call.dest.name);
  if (vm) await reloadFirewallFor(app, vm, call.services.env, call.services.warn);
}

export const FIREWALL_METHODS: MethodDecl[] = [
  method('admin.vm.firewall.Get', { ...local, wantsPayload: false }, (call) =>
    currentRules(call.app, call.dest, nowMs(call.services.env))
      .map((r) => `${apiForm(r)}\n`)
      .join(''),
  ),
  method('admin.vm.firewall.Set', { ...local, wantsPayload: true, write: true }, async (call) => {
    const text = call.payload.toString('latin1');
    if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError('Rules contains non-ASCII characters');
    // Python's splitlines(): no empty last line for a trailing newline
    const rules = text.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e]/);
    if (rules.at(-1) === '') rules.pop();
    const parsed = rules.map(parseRuleText);
    await changeRules(call.services.store, call.dest.name, () => parsed, nowMs(call.services.env));
    await reload(call);
  }),
  method('admin.vm.firewall.Reload', { ...local, wantsPayload: false, execute: true }, reload),
];
