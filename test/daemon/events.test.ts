// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.Events against a real daemon: connection-established first, then
 * the reference's events for changes made through the daemon and by the
 * one-shot commands; under load (8 clients x 50 writes, one-shot commands
 * at the same time) nothing is lost and every change is announced once.
 */
import fs from 'node:fs';
import { runAsync } from '../helpers.js';
import { shown, startDaemon, subscribe, type Daemon } from './daemon-env.js';

let d: Daemon;
beforeEach(async () => {
  d = await startDaemon('qubes-xml/q10.xml');
});
afterEach(async () => {
  expect(await d.stop()).toBe(0);
  fs.rmSync(d.store.dir, { recursive: true, force: true });
});

test('connection-established first; changes through the daemon and by one-shot commands read the same', async () => {
  const s = await subscribe(d);
  expect(s.events[0]).toEqual({ subject: '', event: 'connection-established', fields: {} });
  const vmOnly = await subscribe(d, 'vm0002');

  expect(shown(await d.call('admin.vm.property.Set', 'vm0001', 'label', 'blue'))).toBe('0\\0');
  expect(shown(await d.call('admin.vm.feature.Set', 'vm0001', 'f1', 'v1'))).toBe('0\\0');
  expect(shown(await d.call('admin.vm.tag.Set', 'vm0001', 'tg'))).toBe('0\\0');
  expect(shown(await d.call('admin.property.Set', 'dom0', 'default_netvm', 'sys-net'))).toBe('0\\0');
  expect((await runAsync('qvm-prefs', ['vm0002', 'label', 'green'], d.store.env)).code).toBe(0);
  expect((await runAsync('qvm-features', ['vm0002', 'f2', 'v2'], d.store.env)).code).toBe(0);
  expect((await runAsync('qvm-tags', ['vm0002', 'add', 'tg2'], d.store.env)).code).toBe(0);
  expect((await runAsync('qvm-prefs', ['--default', 'sys-firewall', 'netvm'], d.store.env)).code).toBe(0);
  expect(shown(await d.call('admin.vm.feature.Remove', 'vm0001', 'f1'))).toBe('0\\0');
  expect(shown(await d.call('admin.vm.tag.Remove', 'vm0001', 'tg'))).toBe('0\\0');

  await s.waitFor((e) => e.some((x) => x.event === 'domain-tag-delete:tg'));
  expect(s.events.slice(1)).toEqual([
    { subject: 'vm0001', event: 'property-set:label', fields: { name: 'label', newvalue: 'blue', oldvalue: 'orange' } },
    { subject: 'vm0001', event: 'domain-feature-set:f1', fields: { feature: 'f1', value: 'v1' } },
    { subject: 'vm0001', event: 'domain-tag-add:tg', fields: { tag: 'tg' } },
    { subject: '', event: 'property-set:default_netvm', fields: { name: 'default_netvm', newvalue: 'sys-net', oldvalue: 'sys-firewall' } },
    { subject: 'vm0002', event: 'property-set:label', fields: { name: 'label', newvalue: 'green', oldvalue: 'yellow' } },
    { subject: 'vm0002', event: 'domain-feature-set:f2', fields: { feature: 'f2', value: 'v2' } },
    { subject: 'vm0002', event: 'domain-tag-add:tg2', fields: { tag: 'tg2' } },
    { subject: 'sys-firewall', event: 'property-reset:netvm', fields: { name: 'netvm', oldvalue: 'sys-net' } },
    { subject: 'vm0001', event: 'domain-feature-delete:f1', fields: { feature: 'f1' } },
    { subject: 'vm0001', event: 'domain-tag-delete:tg', fields: { tag: 'tg' } },
  ]);
  // a stream for one qube gets that qube's events only
  await vmOnly.waitFor((e) => e.length >= 4);
  expect(vmOnly.events.map((e) => `${e.subject} ${e.event}`)).toEqual([
    ' connection-established',
    'vm0002 property-set:label',
    'vm0002 domain-feature-set:f2',
    'vm0002 domain-tag-add:tg2',
  ]);
  s.close();
  vmOnly.close();
});

test('a change by a one-shot command is announced without any request to the daemon', async () => {
  const s = await subscribe(d);
  expect((await runAsync('qvm-features', ['sys-net', 'alone', '1'], d.store.env)).code).toBe(0);
  await s.waitFor((e) => e.length >= 2, 10000);
  expect(s.events[1]).toEqual({ subject: 'sys-net', event: 'domain-feature-set:alone', fields: { feature: 'alone', value: '1' } });
  s.close();
});

test('pools added and removed through the daemon and by qvm-pool: pool-add and pool-delete, nothing for a setting', async () => {
  const s = await subscribe(d);
  const dir = d.store.dir;
  expect(shown(await d.call('admin.pool.Add', 'dom0', 'file', `name=p1\ndir_path=${dir}/p1\n`))).toBe('0\\0');
  expect((await runAsync('qvm-pool', ['add', 'p2', 'file', '-o', `dir_path=${dir}/p2`], d.store.env)).code).toBe(0);
  // the reference announces no change of a pool's settings
  expect(shown(await d.call('admin.pool.Set.revisions_to_keep', 'dom0', 'p1', '0'))).toBe('0\\0');
  expect(shown(await d.call('admin.pool.Remove', 'dom0', 'p2'))).toBe('0\\0');
  expect((await runAsync('qvm-pool', ['remove', 'p1'], d.store.env)).code).toBe(0);
  await s.waitFor((e) => e.filter((x) => x.event === 'pool-delete').length === 2);
  expect(s.events.slice(1)).toEqual([
    { subject: '', event: 'pool-add', fields: { pool: 'p1' } },
    { subject: '', event: 'pool-add', fields: { pool: 'p2' } },
    { subject: '', event: 'pool-delete', fields: { pool: 'p2' } },
    { subject: '', event: 'pool-delete', fields: { pool: 'p1' } },
  ]);
  s.close();
});

test('8 clients x 50 writes and one-shot commands at once: nothing lost, each change announced once', async () => {
  const s = await subscribe(d);
  const clients = Array.from({ length: 8 }, async (_, c) => {
    for (let i = 0; i < 50; i++) {
      const reply = await d.call('admin.vm.feature.Set', `vm000${c}`, `c${c}-${i}`, `v${i}`);
      expect(shown(reply)).toBe('0\\0');
    }
  });
  const oneShots = Array.from({ length: 6 }, async (_, k) => {
    for (let i = 0; i < 3; i++) {
      const r = await runAsync('qvm-features', ['sys-net', `cmd${k}-${i}`, 'x'], d.store.env);
      expect([r.code, r.stderr]).toEqual([0, '']);
    }
  });
  await Promise.all([...clients, ...oneShots]);
  const expected = 8 * 50 + 6 * 3;
  await s.waitFor((e) => e.filter((x) => x.event.startsWith('domain-feature-set:')).length >= expected, 30000);
  const sets = s.events.filter((x) => x.event.startsWith('domain-feature-set:')).map((x) => `${x.subject} ${x.fields.feature}=${x.fields.value}`);
  expect(sets.length).toBe(expected);
  expect(new Set(sets).size).toBe(expected);
  const xml = d.store.read();
  for (let c = 0; c < 8; c++) for (let i = 0; i < 50; i++) expect(xml).toContain(`<feature name="c${c}-${i}">v${i}</feature>`);
  for (let k = 0; k < 6; k++) for (let i = 0; i < 3; i++) expect(xml).toContain(`<feature name="cmd${k}-${i}">x</feature>`);
  // nothing else was announced
  expect(s.events.length).toBe(1 + expected);
  s.close();
}, 120000);
