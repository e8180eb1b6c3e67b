// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Our daemon against the reference's own Admin API handlers
 * (qubes.api.admin of ../shared/reference-core, run offline by ref-api.py)
 * on two copies of one store: the same request gives the same reply, byte
 * for byte, and after the whole sequence of changes the two stores are the
 * same (tags compared as sets: the reference writes them in Python's set
 * order, which changes from run to run; the new pools' directories, one
 * in each store's temporary directory, written as DIR).
 *
 * Left out, each a difference of the library the commands share, listed in
 * the README: requests whose reference answer needs the hypervisor
 * (offline it refuses a qube's GetAll), `default_pool` (the reference
 * computes a default), the help texts, the words of refused values, and
 * notes.Set (the reference's needs libqubes-pure, which is not here; Qubes'
 * qvm-notes is compared in reference-client.test.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStore } from '../helpers.js';
import { missing, testWithout } from '../needs.js';
import { request, shown, startDaemon } from './daemon-env.js';

const REF_PYTHON = path.resolve(ROOT, '..', 'shared', 'reference-core', 'ref-python');
const REF_API = path.join(ROOT, 'test', 'daemon', 'ref-api.py');

/** [method, dest, arg, payload], in order. */
const REQUESTS: [string, string, string, string][] = [
  ['admin.vmclass.List', 'dom0', '', ''],
  ['admin.vm.List', 'dom0', '', ''],
  ['admin.vm.List', 'vm0001', '', ''],
  ['admin.vm.CurrentState', 'vm0001', '', ''],
  ['admin.vm.property.List', 'vm0001', '', ''],
  ['admin.vm.property.List', 'fedora-41', '', ''],
  ['admin.property.List', 'dom0', '', ''],
  ['admin.vm.property.Get', 'vm0001', 'label', ''],
  ['admin.vm.property.Get', 'vm0001', 'netvm', ''],
  ['admin.vm.property.Get', 'sys-net', 'netvm', ''],
  ['admin.vm.property.Get', 'vm0001', 'template', ''],
  ['admin.vm.property.Get', 'vm0001', 'memory', ''],
  ['admin.vm.property.Get', 'vm0001', 'kernel', ''],
  ['admin.vm.property.Get', 'vm0001', 'nosuch', ''],
  ['admin.vm.property.Get', 'dom0', 'label', ''],
  ['admin.property.Get', 'dom0', 'default_kernel', ''],
  ['admin.property.Get', 'dom0', 'default_netvm', ''],
  ['admin.property.Get', 'dom0', 'nosuch', ''],
  ['admin.property.GetDefault', 'dom0', 'default_netvm', ''],
  ['admin.vm.property.GetDefault', 'vm0001', 'netvm', ''],
  ['admin.vm.property.GetDefault', 'vm0001', 'label', ''],
  ['admin.vm.property.GetDefault', 'vm0001', 'memory', ''],
  ['admin.label.List', 'dom0', '', ''],
  ['admin.label.Get', 'dom0', 'red', ''],
  ['admin.label.Index', 'dom0', 'blue', ''],
  ['admin.label.Get', 'dom0', 'nosuch', ''],
  ['admin.label.Get', 'dom0', 'bad!label', ''],
  ['admin.vm.feature.List', 'sys-net', '', ''],
  ['admin.vm.feature.Get', 'sys-net', 'nosuch', ''],
  ['admin.vm.feature.CheckWithTemplate', 'vm0001', 'nosuch', ''],
  ['admin.vm.tag.List', 'vm0001', '', ''],
  ['admin.vm.tag.Get', 'vm0001', 'x', ''],
  ['admin.pool.List', 'dom0', '', ''],
  ['admin.pool.Info', 'dom0', 'linux-kernel', ''],
  ['admin.pool.Info', 'dom0', 'nosuch', ''],
  ['admin.pool.UsageDetails', 'dom0', 'linux-kernel', ''],
  ['admin.pool.UsageDetails', 'dom0', 'nosuch', ''],
  ['admin.pool.volume.List', 'dom0', 'varlibqubes', ''],
  ['admin.pool.volume.List', 'dom0', 'nosuch', ''],
  ['admin.vm.volume.List', 'vm0001', '', ''],
  ['admin.vm.volume.List', 'fedora-41', '', ''],
  ['admin.vm.volume.List', 'dom0', '', ''],
  ['admin.vm.volume.Info', 'vm0001', 'private', ''],
  ['admin.vm.volume.Info', 'vm0001', 'root', ''],
  ['admin.vm.volume.Info', 'vm0001', 'volatile', ''],
  ['admin.vm.volume.Info', 'vm0001', 'kernel', ''],
  ['admin.vm.volume.Info', 'fedora-41', 'root', ''],
  ['admin.vm.volume.Info', 'vm0001', 'nosuch', ''],
  ['admin.vm.volume.ListSnapshots', 'vm0001', 'private', ''],
  ['admin.vm.firewall.Get', 'vm0001', '', ''],
  ['admin.vm.notes.Get', 'vm0001', '', ''],
  // changes
  ['admin.vm.property.Set', 'vm0001', 'label', 'blue'],
  ['admin.vm.property.Set', 'vm0001', 'netvm', ''],
  ['admin.vm.property.Set', 'vm0001', 'memory', '500'],
  ['admin.vm.property.Set', 'vm0001', 'vcpus', '4'],
  ['admin.vm.property.Set', 'vm0001', 'label', 'nosuch'],
  ['admin.vm.property.Reset', 'vm0001', 'memory', ''],
  ['admin.vm.property.Set', 'vm0003', 'template', 'fedora-41'],
  ['admin.vm.property.Set', 'vm0004', 'default_user', 'alice'],
  ['admin.property.Set', 'dom0', 'default_netvm', 'sys-net'],
  ['admin.property.Reset', 'dom0', 'default_netvm', ''],
  ['admin.property.Set', 'dom0', 'default_kernel', '6.1'],
  ['admin.vm.feature.Set', 'vm0001', 'f1', 'v1'],
  ['admin.vm.feature.Set', 'vm0001', 'f2', ''],
  ['admin.vm.feature.Get', 'vm0001', 'f1', ''],
  ['admin.vm.feature.CheckWithTemplate', 'vm0001', 'f2', ''],
  ['admin.vm.feature.Remove', 'vm0001', 'f1', ''],
  ['admin.vm.feature.Remove', 'vm0001', 'f1', ''],
  ['admin.vm.feature.Set', 'vm0001', 'bad!name', 'v'],
  ['admin.vm.feature.Set', 'fedora-41', 'tf', 'from-template'],
  ['admin.vm.feature.CheckWithTemplate', 'vm0001', 'tf', ''],
  ['admin.vm.feature.CheckWithTemplateAndAdminVM', 'vm0001', 'tf', ''],
  ['admin.vm.feature.Set', 'dom0', 'df', 'from-dom0'],
  ['admin.vm.feature.CheckWithAdminVM', 'vm0001', 'df', ''],
  ['admin.vm.feature.CheckWithNetvm', 'vm0002', 'nf', ''],
  ['admin.vm.feature.Set', 'sys-firewall', 'nf', 'from-netvm'],
  ['admin.vm.feature.CheckWithNetvm', 'vm0002', 'nf', ''],
  ['admin.vm.tag.Set', 'vm0001', 't1', ''],
  ['admin.vm.tag.Get', 'vm0001', 't1', ''],
  ['admin.vm.tag.Remove', 'vm0001', 't1', ''],
  ['admin.vm.tag.Remove', 'vm0001', 't1', ''],
  ['admin.label.Create', 'dom0', 'pink', '0xff00ff'],
  ['admin.label.Create', 'dom0', 'pink', '0xff00ff'],
  ['admin.label.Create', 'dom0', '123', '0xff00ff'],
  ['admin.label.Create', 'dom0', 'ugly', '0xzz00ff'],
  ['admin.label.Create', 'dom0', 'short', '0xfff'],
  ['admin.label.Index', 'dom0', 'pink', ''],
  ['admin.label.Remove', 'dom0', 'red', ''],
  ['admin.vm.property.Set', 'vm0002', 'label', 'pink'],
  ['admin.vm.property.Get', 'vm0002', 'label', ''],
  ['admin.vm.property.Set', 'vm0002', 'label', 'red'],
  ['admin.label.Remove', 'dom0', 'pink', ''],
  ['admin.label.List', 'dom0', '', ''],
  ['admin.vm.firewall.Set', 'vm0001', '', 'action=accept dsthost=10.0.0.1 proto=tcp dstports=22-22\naction=drop\n'],
  ['admin.vm.firewall.Get', 'vm0001', '', ''],
  ['admin.vm.volume.Set.rw', 'vm0001', 'root', ' true'],
  ['admin.vm.volume.Set.rw', 'vm0001', 'root', 'TRUE'],
  // pools ({DIR}: the store's directory)
  ['admin.pool.Add', 'dom0', 'file', 'name=p1\ndir_path={DIR}/p1\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p1\ndir_path={DIR}/p1\n'],
  ['admin.pool.Add', 'dom0', 'file', 'dir_path={DIR}/p2\r\nrevisions_to_keep=0\x0bephemeral_volatile=on\x0cname=p2'],
  ['admin.pool.Add', 'dom0', 'file-reflink', 'name=r1\ndir_path={DIR}/r1\nsetup_check=no\nrevisions_to_keep=3\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\nfoo=1\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\ndriver=file\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\n'],
  ['admin.pool.Add', 'dom0', 'nosuch', 'name=p3\n'],
  ['admin.pool.Add', 'dom0', 'file', 'dir_path=/x\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\nname=p4\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\nnoequal\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p3\n\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p/3\n'],
  ['admin.pool.Add', 'dom0', 'file', 'name=p\u00e9\n'],
  ['admin.pool.Add', 'dom0', 'file', ''],
  ['admin.pool.Add', 'dom0', '', 'name=p3\n'],
  ['admin.pool.List', 'dom0', '', ''],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'p1', '0'],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'r1', '-1'],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'p1', '-2'],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'p1', '01'],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'p1', 'x'],
  ['admin.pool.Set.revisions_to_keep', 'dom0', 'nosuch', '1'],
  ['admin.pool.Set.ephemeral_volatile', 'dom0', 'p1', 'On'],
  ['admin.pool.Set.ephemeral_volatile', 'dom0', 'p2', '0'],
  ['admin.pool.Set.ephemeral_volatile', 'dom0', 'p1', 'maybe'],
  ['admin.pool.Set.ephemeral_volatile', 'dom0', 'p1', 'true\n'],
  ['admin.pool.Set.ephemeral_volatile', 'dom0', 'nosuch', 'True'],
  ['admin.pool.Remove', 'dom0', 'p2', ''],
  ['admin.pool.Remove', 'dom0', 'p2', ''],
  ['admin.pool.Remove', 'dom0', 'p1', 'x'],
  ['admin.pool.List', 'dom0', '', ''],
];

/** qubes.xml with each qube's tags in name order. */
const tagsSorted = (xml: string) =>
  xml.replace(/(<tags>\n)((?:\s*<tag name="[^"]*"\/>\n)+)/g, (_m, open: string, tags: string) => open + tags.split('\n').filter(Boolean).sort().join('\n') + '\n');

const absent = missing([REF_PYTHON, '/usr/bin/python3']);

testWithout(absent, "the reference's handlers and ours: same replies, same store", async () => {
  const d = await startDaemon('qubes-xml/q10.xml');
  const refStore = tmpStore('qubes-xml/q10.xml');
  fs.chmodSync(refStore.xml, 0o644);
  try {
    fs.mkdirSync('/var/run/qubes', { recursive: true }); // the reference's offline app expects it
    // the qube's directory, which a real system has (the reference does not make it to save rules)
    for (const dir of [d.store.dir, refStore.dir]) fs.mkdirSync(path.join(dir, 'appvms', 'vm0001'), { recursive: true });
    const inStore = (dir: string, r: (typeof REQUESTS)[number]) => [r[0], r[1], r[2], r[3].replaceAll('{DIR}', dir)] as const;
    const ref = spawnSync(REF_PYTHON, [REF_API, refStore.xml], {
      input: REQUESTS.map((r) => JSON.stringify(inStore(refStore.dir, r))).join('\n') + '\n',
      encoding: 'utf8',
      env: { ...process.env, QUBES_BASE_DIR: refStore.dir },
    });
    const replies = ref.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as string | null);
    expect([ref.status, replies.length]).toEqual([0, REQUESTS.length]);
    for (const [i, r] of REQUESTS.entries()) {
      const ours = shown(await d.raw(request(...inStore(d.store.dir, r))));
      const theirs = replies[i] === null ? '' : shown(Buffer.from(replies[i] as string, 'utf8'));
      expect([r, ours]).toEqual([r, theirs]);
    }
    expect(tagsSorted(d.store.read().replaceAll(d.store.dir, 'DIR'))).toBe(tagsSorted(refStore.read().replaceAll(refStore.dir, 'DIR')));
  } finally {
    await d.stop();
    for (const dir of [d.store.dir, refStore.dir]) fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
