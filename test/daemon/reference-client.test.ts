// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Qubes' own client tools (qubesadmin, unmodified, through run-tool.py)
 * against our daemon on one copy of a store, and our one-shot commands on
 * another copy of the same store: each request gives the same standard
 * output and exit code (and the same error line), and after the whole
 * sequence of changes both stores are the same file.
 *
 * Deliberate differences (README): the client's argparse prints its usage
 * before an error line (compared: the error line only); its qvm-ls prints
 * "please wait..." on stderr (not compared); what is left out below.
 */
import fs from 'node:fs';
import { run, tmpStore, type TmpStore } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, referenceTool, startDaemon, type Daemon } from './daemon-env.js';

/** [tool, args]: run by both, in this order (later ones see the changes of earlier ones). */
const CASES: [string, string[]][] = [
  ['qvm-ls', []],
  ['qvm-ls', ['--raw-data']],
  ['qvm-ls', ['--fields', 'NAME,STATE,CLASS,LABEL,TEMPLATE,NETVM,QID,IP,VCPUS']],
  ['qvm-ls', ['--tree']],
  ['qvm-ls', ['--format', 'network']],
  ['qvm-ls', ['--all', '--raw-list']],
  ['qvm-prefs', ['vm0001']],
  ['qvm-prefs', ['dom0']],
  ['qvm-prefs', ['vm0001', 'label']],
  ['qvm-prefs', ['vm0001', 'netvm']],
  ['qubes-prefs', ['default_netvm']],
  ['qvm-features', ['sys-net']],
  ['qvm-features', ['dom0']],
  ['qvm-service', ['sys-net']],
  ['qvm-tags', ['vm0001']],
  ['qvm-notes', ['--print', 'vm0001']],
  ['qvm-pool', []],
  ['qvm-pool', ['drivers']],
  ['qvm-pool', ['info', 'linux-kernel']],
  ['qvm-volume', ['list', 'vm0001']],
  ['qvm-volume', ['list', '-p', 'varlibqubes']],
  ['qvm-volume', ['info', 'vm0001:private']],
  ['qvm-volume', ['info', 'vm0001:root']],
  ['qvm-firewall', ['vm0001', 'list']],
  // changes
  ['qvm-prefs', ['vm0001', 'label', 'blue']],
  ['qvm-prefs', ['vm0001', 'netvm', 'none']],
  ['qvm-prefs', ['--default', 'vm0002', 'netvm']],
  ['qvm-prefs', ['vm0003', 'memory', '500']],
  ['qvm-prefs', ['vm0003', 'kernelopts', 'quiet splash']],
  ['qubes-prefs', ['default_netvm', 'sys-net']],
  ['qubes-prefs', ['--default', 'default_dispvm']],
  ['qvm-features', ['sys-net', 'foo', 'bar']],
  ['qvm-features', ['sys-net', 'empty', '']],
  ['qvm-features', ['--unset', 'sys-net', 'foo']],
  ['qvm-service', ['sys-net', 'clocksync', 'on']],
  ['qvm-service', ['vm0004', 'cups', 'off']],
  ['qvm-tags', ['vm0001', 'add', 't1', 't2']],
  ['qvm-tags', ['vm0001', 'del', 't1']],
  ['qvm-notes', ['--append', 'a note', 'vm0005']],
  ['qvm-firewall', ['vm0001', 'add', 'accept', 'dsthost=example.com', 'proto=tcp', 'dstports=443']],
  ['qvm-firewall', ['vm0001', 'add', 'drop', 'proto=icmp']],
  ['qvm-firewall', ['vm0001', 'del', '--rule-no', '0']],
  // the state after them
  ['qvm-ls', ['--raw-data']],
  ['qvm-prefs', ['vm0003']],
  ['qubes-prefs', ['default_netvm']],
  ['qvm-features', ['sys-net']],
  ['qvm-service', ['sys-net']],
  ['qvm-tags', ['vm0001']],
  ['qvm-notes', ['--print', 'vm0005']],
  ['qvm-firewall', ['vm0001', 'list']],
  // refusals
  ['qvm-prefs', ['vm0001', 'nosuch']],
  ['qvm-prefs', ['nosuchvm']],
  ['qvm-prefs', ['vm0001', 'netvm', 'nosuchvm']],
  ['qvm-prefs', ['vm0001', 'memory', 'abc']],
  ['qvm-features', ['sys-net', 'nosuch']],
  ['qvm-tags', ['vm0001', 'del', 'nosuch']],
  ['qvm-check', ['vm0001']],
];

const lastLine = (s: string) => s.trimEnd().split('\n').at(-1) ?? '';

let d: Daemon;
let ours: TmpStore;
beforeAll(async () => {
  if (clientMissing().length) return;
  d = await startDaemon('qubes-xml/q10.xml');
  ours = tmpStore('qubes-xml/q10.xml');
  fs.chmodSync(ours.xml, 0o644);
});
afterAll(async () => {
  if (!d) return;
  await d.stop();
  for (const dir of [d.store.dir, ours.dir]) fs.rmSync(dir, { recursive: true, force: true });
});

testWithout(
  clientMissing(),
  "Qubes' client through qubesd and our commands: same output, exit code and store",
  () => {
    for (const [tool, args] of CASES) {
      const theirs = referenceTool(d, tool, args);
      const mine = run(tool, args, ours.env);
      const what = `${tool} ${args.join(' ')}`;
      expect([what, mine.code, mine.stdout]).toEqual([what, theirs.code, theirs.stdout]);
      if (mine.code !== 0) expect([what, lastLine(mine.stderr)]).toEqual([what, lastLine(theirs.stderr)]);
    }
    expect(d.store.read()).toBe(ours.read());
  },
  120000,
);
