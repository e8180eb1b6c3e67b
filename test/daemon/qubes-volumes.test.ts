// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Creating, cloning and removing qubes and changing their volumes through
 * the daemon: Qubes' own qvm-create, qvm-clone, qvm-remove and qvm-volume
 * against our qubesd on one copy of a store, our own commands on another
 * copy, then the same exit code, output and qubes.xml (uuids and the
 * temporary directory aside); and each handler's refusals under the
 * reference's exception class names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { domainXml, fileHead, run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, comparableStore, referenceTool, shown, startDaemon, type Daemon } from './daemon-env.js';

const VECTOR = 'qubes-xml/q10.xml';
const absent = clientMissing();

const normalised = comparableStore;

const privateData = (vm: string) => Buffer.from(`private data of ${vm}\n`.repeat(50));

/** A private image with some data for a q10 qube. */
function privateImage(s: TmpStore, vm: string): Buffer {
  const file = path.join(s.dir, 'appvms', vm, 'private.img');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = privateData(vm);
  fs.writeFileSync(file, data);
  fs.truncateSync(file, 2 * 1024 ** 3);
  return data;
}

const head = fileHead;

/**
 * Qubes' client clones a qube's menu entries with qvm-appmenus (a GUI
 * tool), as a user it looks up in group qubes: neither exists here, so
 * qvm-clone runs with --ignore-errors, which logs that failure and goes on.
 */
const APPMENUS_FAILURE = 'Failed to clone appmenus: Failed to find local user account';

let d: Daemon;
let ours: TmpStore;

const oursRun = (cmd: string, args: string[], input?: string) => run(cmd, args, ours.env, input);
const theirs = (tool: string, args: string[], input?: string) => referenceTool(d, tool, args, input);

beforeEach(async () => {
  if (absent.length) return;
  d = await startDaemon(VECTOR, { store: tmpStoreLocalPools(VECTOR) });
  ours = tmpStoreLocalPools(VECTOR);
  for (const s of [d.store, ours]) privateImage(s, 'vm0000');
});

afterEach(async () => {
  if (absent.length) return;
  expect(await d.stop()).toBe(0);
  for (const s of [d.store, ours]) fs.rmSync(s.dir, { recursive: true, force: true });
});

/** Both sides' exit codes and output (unless `output: false`) the same, and the two stores equal. */
function same(tool: string, args: string[], o: { input?: string; output?: boolean } = {}) {
  const a = oursRun(tool, args, o.input);
  const b = theirs(tool, args, o.input);
  if (o.output === false) expect(b.code).toBe(a.code);
  else expect([b.code, b.stdout]).toEqual([a.code, a.stdout]);
  expect(normalised(d.store)).toBe(normalised(ours));
  return { ours: a, theirs: b };
}

describe('qvm-create, qvm-clone, qvm-remove through the daemon', () => {
  testWithout(absent, 'qvm-create: an AppVM, a StandaloneVM, a TemplateVM in a pool: the same qubes.xml and images', () => {
    same('qvm-create', ['-l', 'red', '-t', 'fedora-41', 'work']);
    same('qvm-create', ['-l', 'blue', '--class', 'StandaloneVM', 'stand']);
    same('qvm-create', ['-l', 'green', '--class', 'TemplateVM', '-P', 'varlibqubes', 'tpl2']);
    expect(d.store.read()).toContain('<tag name="created-by-dom0"/>');
    for (const img of ['appvms/work/private.img', 'appvms/stand/root.img', 'vm-templates/tpl2/root.img'])
      expect(fs.statSync(path.join(d.store.dir, img)).size).toBe(fs.statSync(path.join(ours.dir, img)).size);
  });

  testWithout(absent, 'qvm-create refused: an existing name, an unknown template, label and pool (nothing written)', () => {
    const before = d.store.read();
    for (const [args, why] of [
      [['-l', 'red', 'vm0001'], 'Qube already exists: vm0001'],
      [['-l', 'red', '-t', 'nosuch', 'x1'], "No such domain: 'nosuch'"],
      [['-l', 'red', '-P', 'nosuch', 'x1'], 'Unknown storage pool nosuch'],
    ] as [string[], string][]) {
      const r = theirs('qvm-create', args);
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining(`Error creating VM: ${why}\n`)]);
    }
    expect(d.store.read()).toBe(before);
  });

  testWithout(absent, 'qvm-clone copies settings and the private data as ours does', () => {
    const a = oursRun('qvm-clone', ['--ignore-errors', 'vm0000', 'copy']);
    const b = referenceTool(d, 'qvm-clone', ['--ignore-errors', 'vm0000', 'copy']);
    expect([a.code, b.code, b.stderr]).toEqual([0, 0, expect.stringContaining(APPMENUS_FAILURE)]);
    expect(normalised(d.store)).toBe(normalised(ours));
    const data = privateData('vm0000');
    expect(head(path.join(d.store.dir, 'appvms/copy/private.img'), data.length).equals(data)).toBe(true);
  });

  testWithout(absent, 'qvm-remove: a qube goes with its files; one in use is refused with the same listing', () => {
    same('qvm-remove', ['-f', 'vm0000']);
    expect(fs.existsSync(path.join(d.store.dir, 'appvms/vm0000'))).toBe(false);
    // Qubes' client prints where the qube is used on stderr, ours on stdout
    const r = same('qvm-remove', ['-f', 'sys-net'], { output: false });
    expect(r.theirs.code).toBe(1);
    expect(r.ours.stdout).toBe('VM sys-net cannot be removed. It is in use as:\n - netvm for sys-firewall\n');
    expect(r.theirs.stderr).toContain(r.ours.stdout);
  });
});

describe('qvm-volume through the daemon', () => {
  testWithout(absent, 'resize, config rw / revisions_to_keep / ephemeral, clear: the same results', () => {
    same('qvm-volume', ['resize', 'vm0000:private', '3GiB']);
    expect(fs.statSync(path.join(d.store.dir, 'appvms/vm0000/private.img')).size).toBe(3 * 1024 ** 3);
    same('qvm-volume', ['config', 'vm0000:private', 'rw', 'False']);
    same('qvm-volume', ['config', 'vm0000:volatile', 'ephemeral', 'True']);
    same('qvm-volume', ['config', 'vm0000:private', 'revisions_to_keep', '0']);
    // the confirmation's words differ (see the README's list of differences)
    same('qvm-volume', ['clear', 'vm0000:private'], { input: 'y\n', output: false });
    expect(head(path.join(d.store.dir, 'appvms/vm0000/private.img'), 16).equals(Buffer.alloc(16))).toBe(true);
    same('qvm-volume', ['revert', 'vm0000:private']);
  });
});

describe('admin.vm.CreateDisposable', () => {
  testWithout(absent, 'a disposable of a disposable template, not started; its name or uuid', async () => {
    expect(shown(await d.call('admin.vm.CreateDisposable', 'vm0000'))).toBe(
      '2\\0QubesException\\0\\0Refusing to create disposable out of app qube which has template_for_dispvms=False\\0',
    );
    expect(shown(await d.call('admin.vm.property.Set', 'vm0000', 'template_for_dispvms', 'True'))).toBe('0\\0');
    const name = shown(await d.call('admin.vm.CreateDisposable', 'vm0000'));
    expect(name).toMatch(/^0\\0disp\d+$/);
    const dom = domainXml(d.store.read(), name.slice(3));
    expect(dom).toMatch(/class="DispVM"/);
    expect(dom).toContain('<property name="template">vm0000</property>');
    expect(dom).toContain('<property name="auto_cleanup">True</property>');
    expect(dom).toContain('<tag name="disp-created-by-dom0"/>');
    const uuid = shown(await d.call('admin.vm.CreateDisposable', 'vm0000', '', 'uuid'));
    expect(uuid).toMatch(/^0\\0uuid:[0-9a-f-]{36}$/);
    expect(d.store.read()).toContain(`<property name="uuid">${uuid.slice(8)}</property>`);
    expect(shown(await d.call('admin.vm.CreateDisposable', 'vm0000', 'x'))).toBe(`2\\0PermissionDenied\\0\\0Argument not in "'', 'preload'"\\0`);
    expect(shown(await d.call('admin.vm.CreateDisposable', 'vm0000', '', 'name'))).toBe(
      "2\\0ProtocolError\\0\\0Invalid payload, expected empty string or 'uuid'\\0",
    );
  });
});

describe('refusals under the reference names', () => {
  const cases: [string, string, string, string, string | Buffer, string][] = [
    ['Create without a label', 'admin.vm.Create.AppVM', 'dom0', '', 'name=x1', '2\\0ProtocolError\\0\\0Creation requested without key: label\\0'],
    ['Create with an option twice', 'admin.vm.Create.AppVM', 'dom0', '', 'name=x1 name=x2', '2\\0ProtocolError\\0\\0Options must be unique\\0'],
    ['Create with a pool', 'admin.vm.Create.AppVM', 'dom0', '', 'name=x1 label=red pool=varlibqubes', "2\\0ProtocolError\\0\\0Pool option specified but 'allow_pool' is False\\0"],
    ['Create with an unknown option', 'admin.vm.Create.AppVM', 'dom0', '', 'name=x1 label=red memory=5', '2\\0ProtocolError\\0\\0Options does not match: name, label, pool, pool:\\0'],
    ['Create of a StandaloneVM with a template', 'admin.vm.Create.StandaloneVM', 'dom0', 'fedora-41', 'name=x1 label=red', '2\\0ProtocolError\\0\\0StandaloneVM cannot be based on template\\0'],
    ['Create of an existing qube', 'admin.vm.Create.AppVM', 'dom0', '', 'name=vm0001 label=red', '2\\0QubesVMAlreadyExistsError\\0\\0Qube already exists: vm0001\\0'],
    ['Create on an unknown template', 'admin.vm.Create.AppVM', 'dom0', 'nosuch', 'name=x1 label=red', "2\\0QubesVMNotFoundError\\0\\0No such domain: 'nosuch'\\0"],
    ['Create with an unknown label', 'admin.vm.Create.AppVM', 'dom0', '', 'name=x1 label=pink', '2\\0QubesLabelNotFoundError\\0\\0Label does not exist: untrusted label\\0'],
    ['Create with a bad name', 'admin.vm.Create.AppVM', 'dom0', '', 'name=1x label=red', expect.stringMatching(/^2\\0QubesValueError\\0\\0VM name contains illegal characters/) as unknown as string],
    ['CreateInPool with both pool forms', 'admin.vm.CreateInPool.AppVM', 'dom0', '', 'name=x1 label=red pool=varlibqubes pool:root=varlibqubes', "2\\0ProtocolError\\0\\0Conflicting options specified: 'pool=', 'pool:volume='\\0"],
    ['CreateInPool with an unknown volume', 'admin.vm.CreateInPool.AppVM', 'dom0', '', 'name=x1 label=red pool:data=varlibqubes', '2\\0ProtocolError\\0\\0Volume must be one of: root, private, volatile, kernel\\0'],
    ['CreateInPool with an unknown pool', 'admin.vm.CreateInPool.AppVM', 'dom0', '', 'name=x1 label=red pool=nosuch', '2\\0QubesException\\0\\0Unknown storage pool nosuch\\0'],
    ['Remove of dom0', 'admin.vm.Remove', 'dom0', '', '', "2\\0QubesVMInUseError\\0\\0'dom0' cannot be removed\\0"],
    ['Remove of a qube in use', 'admin.vm.Remove', 'sys-net', '', '', "2\\0QubesVMInUseError\\0\\0Domain is in use: 'sys-net'\\0"],
    ['a volume the qube lacks', 'admin.vm.volume.Resize', 'vm0000', 'data', '1', "2\\0PermissionDenied\\0\\0Argument not in 'vm0000 volumes'\\0"],
    ['Resize to a size with a leading zero', 'admin.vm.volume.Resize', 'vm0000', 'private', '0123', '2\\0ProtocolError\\0\\0Volume size contains spurious leading zeros\\0'],
    ['Resize to no number', 'admin.vm.volume.Resize', 'vm0000', 'private', '12G', '2\\0ProtocolError\\0\\0Volume size contains non ASCII digits\\0'],
    ['Set.revisions_to_keep below -1', 'admin.vm.volume.Set.revisions_to_keep', 'vm0000', 'private', '-2', '2\\0QubesValueError\\0\\0Invalid value for revisions_to_keep\\0'],
    ['Set.rw to a word', 'admin.vm.volume.Set.rw', 'vm0000', 'private', 'maybe', '2\\0ProtocolError\\0\\0Payload is not boolean ASCII\\0'],
    ['Revert to an unsafe revision name', 'admin.vm.volume.Revert', 'vm0000', 'private', 'a/b', expect.stringMatching(/^2\\0ProtocolError\\0\\0Revision name must be in safe set: /) as unknown as string],
    ['CloneTo with an unknown token', 'admin.vm.volume.CloneTo', 'vm0000', 'private', 'abc', '2\\0QubesVolumeCopyTokenNotFoundError\\0\\0Token to clone volume of qube was not found\\0'],
  ];
  testWithout(absent, 'each refused with its class and message; nothing written', async () => {
    const before = d.store.read();
    for (const [what, m, dest, arg, payload, expected] of cases) expect([what, shown(await d.call(m, dest, arg, payload))]).toEqual([what, expected]);
    expect(d.store.read()).toBe(before);
  });

  testWithout(absent, "what the reference fails on with Python's own errors drops the connection; the daemon keeps serving", async () => {
    expect(await d.call('admin.vm.Create.AppVM', 'dom0', '', 'name=x1 label')).toEqual(Buffer.alloc(0));
    expect(await d.call('admin.vm.Create.AppVM', 'dom0', '', '')).toEqual(Buffer.alloc(0));
    expect(await d.call('admin.vm.volume.Revert', 'vm0000', 'private', 'nosuchrevision')).toEqual(Buffer.alloc(0));
    expect(shown(await d.call('admin.vm.volume.CloneFrom', 'vm0000', 'private'))).toMatch(/^0\\0[A-Za-z0-9]{32}$/);
  });

  testWithout(absent, 'a CloneFrom token serves one CloneTo', async () => {
    const token = (await d.call('admin.vm.volume.CloneFrom', 'vm0000', 'private')).subarray(2).toString();
    expect(shown(await d.call('admin.vm.volume.CloneTo', 'vm0001', 'private', token))).toBe('0\\0');
    expect(shown(await d.call('admin.vm.volume.CloneTo', 'vm0001', 'private', token))).toBe(
      '2\\0QubesVolumeCopyTokenNotFoundError\\0\\0Token to clone volume of qube was not found\\0',
    );
  });
});
