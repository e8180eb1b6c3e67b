// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Stores for the conformance tests: the reference-written q10 vector with
 * pieces of current Qubes added in the shape the reference's writer gives
 * them (a RemoteVM, as qubes-core-admin 4.4 writes one; see
 * test/store/reference-core.test.ts for stores written by the reference
 * itself).
 */
import fs from 'node:fs';
import { tmpStore, type TmpStore } from './helpers.js';

/** A RemoteVM relayed by vm0001, as the reference writes it (qid 14 is free in q10). */
export const REMOTE_VM = `    <domain id="domain-14" class="RemoteVM">
      <properties>
        <property name="label">blue</property>
        <property name="name">remote-work</property>
        <property name="qid">14</property>
        <property name="remote_name">work</property>
        <property name="transport_rpc">qubesair.SSHProxy</property>
        <property name="uuid">3d3d9a2a-9142-4f3a-b492-17a80b330513</property>
        <property name="relayvm">vm0001</property>
      </properties>
      <features/>
      <tags>
        <tag name="relayvm-vm0001"/>
      </tags>
    </domain>
`;

/** q10 with `domainText` inserted before the qube named `before` (the writer's name order). */
export function q10With(domainText: string, before: string): TmpStore {
  const s = tmpStore('qubes-xml/q10.xml');
  const src = s.read();
  const at = src.indexOf(`<property name="name">${before}</property>`);
  const start = src.lastIndexOf('    <domain ', at);
  if (at < 0 || start < 0) throw new Error(`test setup: no qube ${before} in q10`);
  fs.writeFileSync(s.xml, src.slice(0, start) + domainText + src.slice(start));
  return s;
}

/** q10 with a RemoteVM `remote-work` relayed by vm0001. */
export const q10WithRemote = (): TmpStore => q10With(REMOTE_VM, 'sys-firewall');
