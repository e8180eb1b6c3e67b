// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The misc socket (qubesd.misc.sock): qubes.FeaturesRequest,
 * qubes.NotifyTools and qubes.NotifyUpdates from a template and from a
 * qube based on it, their QubesDB entries in real QubesDB daemons, against
 * the reference's own handlers (qubes.api.misc and the extensions that
 * hear features-request, run offline by ref-api.py with the same entries)
 * on a copy of the same store: the same reply for each request, byte for
 * byte, and the same store after the sequence, hostile values included
 * (features compared as a set: the reference runs its extensions' handlers
 * in the order of a Python set).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { QubesDbClient } from '../../lib/vmm/qubesdb/client.js';
import { ROOT, run, tmpStore } from '../helpers.js';
import { missing, testWithout } from '../needs.js';
import { REF_PYTHON } from '../reference-core.js';
import { qdbDir } from '../vmm/qubesdb-helpers.js';
import { rawRequest, request, shown, startDaemon } from './daemon-env.js';

const REF_API = path.join(ROOT, 'test', 'daemon', 'ref-api.py');

/** [method, calling qube, its QubesDB entries, payload], in order. */
const REQUESTS: [string, string, Record<string, string>, string][] = [
  [
    'qubes.FeaturesRequest',
    'fedora-41',
    {
      '/features-request/qrexec': '1',
      '/features-request/gui': '1',
      '/features-request/gui-emulated': 'yes',
      '/features-request/qubes-firewall': '1',
      '/features-request/vmexec': '0',
      '/features-request/os-distribution': 'fedora',
      '/features-request/os-distribution-like': '',
      '/features-request/os-version': '41',
      '/features-request/os-eol': '2025-02-30',
      '/features-request/qubes-agent-version': '4.3',
      '/features-request/supported-service.apparmor': '1',
      '/features-request/supported-service.a': '1',
      '/features-request/supported-service.b': '0',
      '/features-request/supported-feature.x': '1',
      '/features-request/supported-rpc.qubes.Foo': '1',
      '/features-request/anon-timezone': '0',
      '/features-request/boot-mode.kernelopts.nosmt': 'nosmt=force',
      '/features-request/boot-mode.name.nosmt': 'No SMT',
      '/features-request/boot-mode.active': 'nosmt',
      '/features-request/unknown': '1',
      '/features-request/dangerous': 'a=b, c-d.e_f',
    },
    '',
  ],
  // set-once features are not overridden; groups are replaced; bad versions ignored
  [
    'qubes.FeaturesRequest',
    'fedora-41',
    {
      '/features-request/qrexec': '0',
      '/features-request/gui': '0',
      '/features-request/qubes-firewall': '0',
      '/features-request/supported-service.c': '1',
      '/features-request/qubes-agent-version': '1234.5',
      '/features-request/os-version': 'rawhide',
      '/features-request/os-eol': '2026-06-30',
      '/features-request/anon-timezone': '1',
      '/features-request/supported-rpc.qubes.Bar': '1',
    },
    '',
  ],
  // one value outside the safe set refuses the whole request
  ['qubes.FeaturesRequest', 'fedora-41', { '/features-request/qrexec': '1', '/features-request/os-distribution': 'fedora;rm -rf /' }, ''],
  ['qubes.FeaturesRequest', 'fedora-41', { '/features-request/os-distribution': 'x\n' }, ''],
  // not ASCII: no answer
  ['qubes.FeaturesRequest', 'fedora-41', { '/features-request/os-distribution': 'f\u00e9dora' }, ''],
  ['qubes.FeaturesRequest', 'fedora-41', {}, 'payload'],
  // a qube based on the template: only supported-rpc.* is taken
  [
    'qubes.FeaturesRequest',
    'vm0001',
    {
      '/features-request/qrexec': '1',
      '/features-request/gui': '0',
      '/features-request/os-distribution': 'evil',
      '/features-request/supported-service.x': '1',
      '/features-request/supported-feature.y': '1',
      '/features-request/supported-rpc.qubes.Z': '1',
      '/features-request/boot-mode.kernelopts.m': '1',
      '/features-request/anon-timezone': '1',
    },
    '',
  ],
  ['qubes.FeaturesRequest', 'vm0001', { '/features-request/supported-rpc.qubes.Z': '0' }, ''],
  ['qubes.NotifyTools', 'fedora-41', { '/qubes-tools/os': 'Win-dows' }, ''],
  // (Windows with qrexec sets maxmem, which the reference refuses offline: checked below on ours alone)
  ['qubes.NotifyTools', 'fedora-41', { '/qubes-tools/gui': '1', '/qubes-tools/os': 'Windows', '/qubes-tools/default-user': 'user' }, ''],
  ['qubes.NotifyTools', 'vm0002', { '/qubes-tools/qrexec': '1', '/qubes-tools/os': 'Linux' }, ''],
  ['qubes.NotifyUpdates', 'fedora-41', {}, '3\n'],
  ['qubes.NotifyUpdates', 'fedora-41', {}, ' 0 '],
  ['qubes.NotifyUpdates', 'fedora-41', {}, '-1'],
  ['qubes.NotifyUpdates', 'fedora-41', {}, '\u0663'],
  ['qubes.NotifyUpdates', 'fedora-41', {}, ''],
  ['qubes.NotifyUpdates', 'vm0003', {}, '0'],
  ['qubes.NotifyUpdates', 'vm0003', {}, '5'],
];

/**
 * qubes.xml with each qube's features and tags in name order (sets to the
 * reference), the dates of update checks left out, and without the empty
 * `<devices/>` elements the reference writes for a device class it looked
 * at (the README's store decisions).
 */
const comparable = (xml: string) =>
  xml
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, 'DATE')
    .replace(/^\s*<devices class="\w+"\/>\n/gm, '')
    .replace(/(<(?:features|tags)>\n)((?:\s*<(?:feature|tag) name="[^"]*"(?:\/>|>[^<]*<\/feature>)\n)+)/g, (_m, open: string, f: string) => open + f.split('\n').filter(Boolean).sort().join('\n') + '\n');

/** The daemon's clock in the reference comparison (seconds since 1970). */
const CHECKED_AT = 1_700_000_123;

const absent = missing([REF_PYTHON, '/usr/bin/python3']);

testWithout(absent, "the misc socket's methods against the reference's handlers: same replies, same store", async () => {
  const q = qdbDir();
  const callers = [...new Set(REQUESTS.map((r) => r[1]))];
  for (const [i, name] of callers.entries()) expect(q.start(name, 20 + i).code).toBe(0);
  const d = await startDaemon('qubes-xml/q10.xml', { env: { QUBESDB_SOCKET_DIR: q.dir, QUBES_TEST_NOW: String(CHECKED_AT) } });
  const refStore = tmpStore('qubes-xml/q10.xml');
  const misc = path.join(d.store.dir, 'qubesd.misc.sock');
  try {
    fs.mkdirSync('/var/run/qubes', { recursive: true }); // the reference's offline app expects it
    const ref = spawnSync(REF_PYTHON, [REF_API, refStore.xml, 'misc'], {
      input: REQUESTS.map((r) => JSON.stringify(r)).join('\n') + '\n',
      encoding: 'utf8',
      env: { ...process.env, QUBES_BASE_DIR: refStore.dir },
    });
    const replies = ref.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as string | null);
    expect([ref.status, replies.length]).toEqual([0, REQUESTS.length]);
    for (const [i, [method, src, entries, payload]] of REQUESTS.entries()) {
      const qdb = await QubesDbClient.open(src, { env: q.env });
      await qdb.rm('/features-request/');
      await qdb.rm('/qubes-tools/');
      for (const [k, v] of Object.entries(entries)) await qdb.write(k, Buffer.from(v, 'latin1'));
      qdb.close();
      const ours = shown(await rawRequest(misc, request(method, 'dom0', '', Buffer.from(payload, 'utf8'), src)));
      const theirs = replies[i] === null ? '' : shown(Buffer.from(replies[i] as string, 'utf8'));
      expect([i, method, src, ours]).toEqual([i, method, src, theirs]);
    }
    expect(comparable(d.store.read())).toBe(comparable(refStore.read()));
    // what the requests left (and what they did not)
    const features = (name: string) => run('qvm-features', [name], d.store.env).stdout;
    expect(features('fedora-41')).toMatch(/^qrexec +1$/m);
    expect(features('fedora-41')).toMatch(/^gui +1$/m);
    expect(features('fedora-41')).not.toMatch(/gui-emulated|unknown|dangerous|supported-service\.a\b|fedora;/);
    // from the qube based on the template only supported-rpc.*, and a request without any "1" changes nothing
    // the date of an update check by the daemon's clock (QUBES_TEST_NOW), in local time
    const at = new Date(CHECKED_AT * 1000);
    const p2 = (n: number) => String(n).padStart(2, '0');
    const stamp = `${at.getFullYear()}-${p2(at.getMonth() + 1)}-${p2(at.getDate())} ${p2(at.getHours())}:${p2(at.getMinutes())}:${p2(at.getSeconds())}`;
    expect(features('fedora-41')).toMatch(new RegExp(`^last-updates-check +${stamp}$`, 'm'));
    expect(features('vm0001').split('\n').map((l) => l.split(/ +/)[0])).toEqual(['service.cups', 'supported-rpc.qubes.Z', '']);

    // Qubes Windows Tools with qrexec: what a Windows qube needs
    const qdb = await QubesDbClient.open('fedora-41', { env: q.env });
    await qdb.write('/qubes-tools/qrexec', '1');
    await qdb.write('/qubes-tools/os', 'Windows');
    qdb.close();
    expect(shown(await rawRequest(misc, request('qubes.NotifyTools', 'dom0', '', '', 'fedora-41')))).toBe('0\\0');
    expect(features('fedora-41')).toMatch(/^rpc-clipboard +1\nstubdom-qrexec +1\naudio-model +ich6\ntimezone +localtime\nno-monitor-layout +1\n/m);
    const prefs = run('qvm-prefs', ['fedora-41'], d.store.env).stdout;
    expect(prefs).toMatch(/^maxmem +- +0$/m);
    expect(prefs).toMatch(/^qrexec_timeout +- +6000$/m);
  } finally {
    await d.stop();
    await q.cleanup();
    refStore.remove();
    d.store.remove();
  }
}, 60000);
