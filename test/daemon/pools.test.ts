// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Adding, changing and removing storage pools through the daemon: Qubes'
 * own qvm-pool (through run-tool.py) against our daemon on one copy of a
 * store, and our qvm-pool on another copy, with file and file-reflink pools
 * in the stores' temporary directories: the same output, exit code and
 * resulting qubes.xml. Then the refusals that Qubes' qvm-pool does not show
 * as a message (it ends with a traceback on ProtocolError and
 * PermissionDenied), as raw replies with the reference's class names.
 *
 * Compared with the directory of each store written as DIR, and the
 * `usage` of a pool as a number only: the pools are directories of the
 * machine's temporary file system, whose use changes between two calls.
 */
import fs from 'node:fs';
import { run, tmpStore, type TmpStore } from '../helpers.js';
import { testWithout } from '../needs.js';
import { clientMissing, comparableStore, referenceTool, shown, startDaemon, type Daemon } from './daemon-env.js';

/** [args of qvm-pool], `{DIR}` being the store's directory: run by both, in this order. */
const CASES: string[][] = [
  ['add', 'p1', 'file', '-o', 'dir_path={DIR}/p1'],
  ['add', 'r1', 'file-reflink', '-o', 'dir_path={DIR}/r1', '-o', 'setup_check=False', '-o', 'revisions_to_keep=2'],
  // refused where the file system cannot make reflinks, made where it can: the same for both
  ['add', 'r2', 'file-reflink', '-o', 'dir_path={DIR}/r2'],
  ['add', 'p3', 'file'],
  ['add', 'p3', 'file', '-o', 'dir_path={DIR}/nosuch/p3'],
  ['info', 'p1'],
  ['info', 'r1'],
  ['set', 'p1', '-o', 'revisions_to_keep=0', '-o', 'ephemeral_volatile=True'],
  ['set', 'r1', '-o', 'revisions_to_keep=3'],
  ['set', 'r1', '-o', 'ephemeral_volatile=no'],
  ['set', 'p1', '-o', 'prop=1'],
  ['info', 'p1'],
  ['info', 'r1'],
  [],
  ['remove', 'varlibqubes'],
  ['remove', 'p1', 'r1'],
  [],
];

const lastLine = (s: string) => s.trimEnd().split('\n').at(-1) ?? '';

/** Output as comparable between the two stores. */
const comparable = (s: TmpStore, text: string) => text.replaceAll(s.dir, 'DIR').replace(/^(usage\s+)\d+$/gm, '$1N');

let d: Daemon;
let ours: TmpStore;
beforeAll(async () => {
  d = await startDaemon('qubes-xml/q10.xml');
  ours = tmpStore('qubes-xml/q10.xml');
  fs.chmodSync(ours.xml, 0o644);
});
afterAll(async () => {
  expect(await d.stop()).toBe(0);
  for (const dir of [d.store.dir, ours.dir]) fs.rmSync(dir, { recursive: true, force: true });
});

testWithout(
  clientMissing(),
  "Qubes' qvm-pool through qubesd and ours: add, info, set, remove give the same output, exit code and store",
  () => {
    for (const args of CASES) {
      const theirs = referenceTool(
        d,
        'qvm-pool',
        args.map((a) => a.replaceAll('{DIR}', d.store.dir)),
      );
      const mine = run(
        'qvm-pool',
        args.map((a) => a.replaceAll('{DIR}', ours.dir)),
        ours.env,
      );
      const what = `qvm-pool ${args.join(' ')}`;
      expect([what, mine.code, comparable(ours, mine.stdout)]).toEqual([what, theirs.code, comparable(d.store, theirs.stdout)]);
      if (mine.code !== 0) expect([what, comparable(ours, lastLine(mine.stderr))]).toEqual([what, comparable(d.store, lastLine(theirs.stderr))]);
    }
    expect(comparableStore(d.store)).toBe(comparableStore(ours));
    expect(d.store.read()).toContain(`<pool name="varlibqubes"`);
    expect(d.store.read()).not.toContain(`<pool name="p1"`);
  },
  120000,
);

test('refusals of the pool methods under the reference class names; nothing changes', async () => {
  const before = d.store.read();
  const call = async (method: string, arg: string, payload = '') => shown(await d.call(method, 'dom0', arg, payload));
  const dir = d.store.dir;
  expect(await call('admin.pool.Add', 'file', 'name=q1\nfoo=1\n')).toBe('2\\0ProtocolError\\0\\0Unexpected driver options found\\0');
  expect(await call('admin.pool.Add', 'nosuch', 'name=q1\n')).toBe("2\\0PermissionDenied\\0\\0Argument not in 'available drivers'\\0");
  expect(await call('admin.pool.Add', 'file', 'dir_path=/x\n')).toBe('2\\0ProtocolError\\0\\0Pool configuration must contain key: name\\0');
  expect(await call('admin.pool.Add', 'file', `name=varlibqubes\ndir_path=${dir}/v\n`)).toBe("2\\0QubesPoolInUseError\\0\\0Storage pool is in use: 'varlibqubes'\\0");
  // what the library refuses, in its words (the reference drops the connection here)
  expect(await call('admin.pool.Add', 'file', `name=q1\ndir_path=${dir}/q1\nrevisions_to_keep=many\n`)).toBe(
    "2\\0QubesValueError\\0\\0Invalid value for revisions_to_keep: 'many' (an integer >= -1)\\0",
  );
  expect(await call('admin.pool.Set.revisions_to_keep', 'varlibqubes', '2')).toBe('2\\0StoragePoolException\\0\\0FilePool supports maximum 1 volume revision to keep\\0');
  expect(await call('admin.pool.Set.ephemeral_volatile', 'linux-kernel', 'True')).toBe(
    '2\\0StoragePoolException\\0\\0Setting option ephemeral_volatile is not supported for pool linux-kernel\\0',
  );
  expect(await call('admin.pool.Remove', 'nosuch')).toBe("2\\0PermissionDenied\\0\\0Argument not in 'pools'\\0");
  expect(d.store.read()).toBe(before);
  expect(fs.existsSync(`${dir}/q1`)).toBe(false);
});
