// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The method table against the reference and against what is installed:
 * every method admin.py declares (its {endpoint} names expanded over the
 * VM and device classes) is in the table with the same scope, access and
 * arg/payload/destination rules; the generated qrexec policy and
 * qubes-rpc list name exactly the implemented methods, each in the include
 * file its access says; and a running daemon answers each implemented
 * method past the "no such method" check and each declared-only one with
 * it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { methodTable } from '../../lib/daemon/method-table.js';
import type { MethodDecl } from '../../lib/daemon/method.js';
import { adminApiFiles, includeFor, offeredMethods, SCRIPT_SERVICES } from '../../lib/daemon/policy.js';
import { DEVICE_CLASSES } from '../../lib/devices/model.js';
import { VM_CLASSES } from '../../lib/vm/vm-properties.js';
import { ROOT } from '../helpers.js';
import { request, shown, startDaemon } from './daemon-env.js';

const ADMIN_PY = path.resolve(ROOT, '..', 'shared', 'reference-core', 'qubes', 'api', 'admin.py');

interface RefDecl {
  name: string;
  scope: string;
  read: boolean;
  write: boolean;
  execute: boolean;
  destAdminvm: boolean | null;
  wantsArg: boolean | null;
  wantsPayload: boolean | null;
}

/** Every @qubes.api.method(...) of admin.py, its keywords read as Python literals, endpoints expanded. */
function referenceDecls(): RefDecl[] {
  const src = fs.readFileSync(ADMIN_PY, 'utf8');
  const out: RefDecl[] = [];
  const re = /@qubes\.api\.method\(\s*"([^"]+)"([\s\S]*?)\n {4}\)/g;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    const [, name, body] = m as unknown as [string, string, string];
    const kw = (k: string): string | undefined => new RegExp(`\\b${k}=("[^"]*"|True|False|None)`).exec(body)?.[1];
    const bool = (k: string, dflt: boolean | null) => {
      const v = kw(k);
      return v === undefined ? dflt : v === 'True' ? true : v === 'False' ? false : null;
    };
    const decl = {
      scope: (kw('scope') ?? '').replace(/"/g, ''),
      read: bool('read', true) as boolean,
      write: bool('write', false) as boolean,
      execute: bool('execute', false) as boolean,
      destAdminvm: bool('dest_adminvm', null),
      wantsArg: bool('wants_arg', null),
      wantsPayload: bool('wants_payload', null),
    };
    let endpoints: readonly string[] | undefined;
    if (name.includes('{endpoint}')) endpoints = /qubes\.devices/.test(body) ? DEVICE_CLASSES : /VM_ENTRY_POINT/.test(body) ? VM_CLASSES : undefined;
    if (name.includes('{endpoint}') && !endpoints) throw new Error(`unknown endpoints of ${name}`);
    for (const n of endpoints ? endpoints.map((e) => name.replace('{endpoint}', e)) : [name]) out.push({ name: n, ...decl });
  }
  return out;
}

const table = methodTable();

test('admin.py declares 88 methods; each is in the table with its scope, access and rules', () => {
  const src = fs.readFileSync(ADMIN_PY, 'utf8');
  expect(src.match(/@qubes\.api\.method\(/g)?.length).toBe(88);
  const ref = referenceDecls();
  expect(new Set(ref.map((r) => r.name.replace(/\.(AdminVM|AppVM|DispVM|RemoteVM|StandaloneVM|TemplateVM|block|mic|pci|usb)(?=\.|$)/, '.{endpoint}'))).size).toBe(88);
  const ours = (m: MethodDecl | undefined) =>
    m && { name: m.name, scope: m.scope, read: m.read, write: m.write, execute: m.execute, destAdminvm: m.destAdminvm, wantsArg: m.wantsArg, wantsPayload: m.wantsPayload };
  for (const r of ref) expect(ours(table.get(r.name))).toEqual(r);
  // and nothing the reference does not have
  expect([...table.keys()].sort()).toEqual(ref.map((r) => r.name).sort());
});

test('the generated policy and qubes-rpc list are current and name exactly the implemented methods', () => {
  const offered = offeredMethods(table);
  expect(offered.length).toBeGreaterThan(40);
  for (const [rel, content] of adminApiFiles(table)) expect(fs.readFileSync(path.join(ROOT, 'admin-api', rel), 'utf8')).toBe(content);
  const policy = fs.readFileSync(path.join(ROOT, 'admin-api', 'policy.d', '90-admin-default.policy'), 'utf8');
  const lines = policy.split('\n').filter((l) => l.startsWith('!include-service'));
  const parsed = new Map(lines.map((l) => l.split(/\s+/)).map(([, name, , inc]) => [name as string, inc as string]));
  // every implemented method but the two that make another AdminVM, which the reference never offers either
  // and the volume import, whose /etc/qubes-rpc entries are scripts
  const implementedNames = [...table.values()].filter((m) => m.handler).map((m) => m.name);
  const scripts = SCRIPT_SERVICES.map((m) => m.name);
  expect(scripts).toEqual(['admin.vm.volume.Import', 'admin.vm.volume.ImportWithSize']);
  expect([...parsed.keys()].sort()).toEqual([...implementedNames.filter((n) => !/^admin\.vm\.Create(InPool)?\.AdminVM$/.test(n)), ...scripts].sort());
  for (const [name, inc] of parsed) {
    const m = (table.get(name) ?? SCRIPT_SERVICES.find((s) => s.name === name)) as MethodDecl;
    expect(inc).toBe(`include/admin-${m.scope}-${m.write || m.execute ? 'rwx' : 'ro'}`);
    expect(inc).toBe(`include/${includeFor(m)}`);
  }
  const rpc = fs.readFileSync(path.join(ROOT, 'admin-api', 'qubes-rpc-methods'), 'utf8').split('\n').filter(Boolean);
  expect(rpc.sort()).toEqual([...parsed.keys()].filter((n) => !scripts.includes(n)).sort());
  for (const n of scripts) expect(fs.existsSync(path.join(ROOT, 'admin-api', 'qubes-rpc', n))).toBe(true);
  for (const scope of ['local', 'global'])
    expect(fs.readFileSync(path.join(ROOT, 'admin-api', 'policy.d', 'include', `admin-${scope}-ro`), 'utf8')).toContain(`!include include/admin-${scope}-rwx\n`);
});

test('a running daemon: implemented methods pass the method check, declared-only ones answer as unknown', async () => {
  const d = await startDaemon('qubes-xml/q10.xml');
  try {
    for (const m of table.values()) {
      // an argument and payload each method refuses or needs do not matter: only "no such method" is checked
      const dest = m.destAdminvm === false ? 'sys-net' : 'dom0';
      if (m.name === 'admin.Events') continue; // a stream: tested in events.test.ts
      const reply = shown(await d.raw(request(m.name, dest, m.wantsArg ? 'x' : '', m.wantsPayload ? 'x' : '')));
      if (m.handler) expect([m.name, reply]).not.toEqual([m.name, expect.stringContaining('no such method')]);
      else expect([m.name, reply]).toEqual([m.name, `2\\0ProtocolError\\0\\0no such method: '${m.name}'\\0`]);
    }
  } finally {
    await d.stop();
    fs.rmSync(d.store.dir, { recursive: true, force: true });
  }
});
