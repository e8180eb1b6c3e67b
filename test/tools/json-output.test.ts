// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * `--format json` of every command that lists or shows: the output parses
 * (one document, ending with a newline), its keys are exactly the ones the
 * command's man page documents in its JSON OUTPUT section (parsed from
 * man/src/NAME.md, types included), a missing value is null (never `-`),
 * errors still go to standard error with the usual exit codes, and
 * completion offers the format's values. Each command runs once through
 * bin/NAME; the other forms run in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run, runIn, tmpDir, tmpStore, type RunResult, type TmpStore } from '../helpers.js';
import { completeLine } from '../docs/complete-line.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface DocKey {
  /** `name`, or `parent[].name` for the objects of an array. */
  path: string;
  /** JSON types allowed: string, number, boolean, array, object, null. */
  types: Set<string>;
}

interface Form {
  label: string;
  array: boolean;
  keys: DocKey[];
}

const TYPES = ['string', 'number', 'boolean', 'array', 'object', 'null'];

/**
 * The forms of a man page's JSON OUTPUT section: a paragraph that starts
 * with `` `COMMAND ...`: `` opens one ("an array" of objects, or one
 * object; "the same keys" as the form before), and its bullets
 * `` - `key` (types): `` list the keys.
 */
function jsonForms(page: string): Map<string, Form> {
  const md = fs.readFileSync(path.join(ROOT, 'man', 'src', `${page}.md`), 'utf8');
  const at = md.indexOf('\n## JSON OUTPUT\n');
  if (at < 0) throw new Error(`${page}.md has no JSON OUTPUT section`);
  const rest = md.slice(at + 1);
  const section = rest.slice(0, rest.indexOf('\n## ') < 0 ? undefined : rest.indexOf('\n## '));
  const forms = new Map<string, Form>();
  let current: Form | undefined;
  for (const para of section.split(/\n\s*\n/)) {
    const intro = /^`((?:qvm|qubes)-[^`]*)`[^:]*:/.exec(para);
    if (intro) {
      const same = /same keys?\b/.test(para) && current ? current.keys : [];
      current = { label: intro[1] as string, array: /^\s+an\s+array\b/.test(para.slice(intro[0].length)), keys: [...same] };
      forms.set(current.label, current);
      continue;
    }
    for (const line of para.split('\n')) {
      const m = /^- `([^`]+)` \(([^)]*)\)/.exec(line);
      if (m && current) current.keys.push({ path: m[1] as string, types: new Set((m[2] as string).split(/[^a-z]+/).filter((w) => TYPES.includes(w))) });
    }
  }
  return forms;
}

const typeOf = (v: Json): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Every string in a document (a `-` placeholder must not be one of them). */
const strings = (v: Json): string[] =>
  typeof v === 'string' ? [v] : Array.isArray(v) ? v.flatMap(strings) : v && typeof v === 'object' ? Object.values(v).flatMap(strings) : [];

/** Objects checked against documented keys: exactly those keys, each of a documented type. */
function checkObjects(objects: Json[], keys: DocKey[], where: string): void {
  const top = keys.filter((k) => !k.path.includes('[].'));
  for (const o of objects) {
    expect(typeOf(o)).toBe('object');
    const obj = o as { [key: string]: Json };
    expect({ where, keys: Object.keys(obj).sort() }).toEqual({ where, keys: top.map((k) => k.path).sort() });
    for (const k of top) {
      expect({ where, key: k.path, type: typeOf(obj[k.path] as Json), allowed: k.types.has(typeOf(obj[k.path] as Json)) }).toMatchObject({ allowed: true });
      const nested = keys.filter((n) => n.path.startsWith(`${k.path}[].`)).map((n) => ({ ...n, path: n.path.slice(k.path.length + 3) }));
      if (nested.length) checkObjects(obj[k.path] as Json[], nested, `${where} ${k.path}[]`);
    }
  }
}

/** The document of a run: exit 0, one JSON document ending with a newline, as the man page's form says. */
function documented(r: RunResult, page: string, form: string): Json {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return checked(r.stdout, page, form);
}

function checked(stdout: string, page: string, form: string): Json {
  expect(stdout.endsWith('}\n') || stdout.endsWith(']\n')).toBe(true);
  const doc = JSON.parse(stdout) as Json;
  const f = jsonForms(page).get(form);
  if (!f) throw new Error(`${page}.md documents no form \`${form}\``);
  expect({ form, array: Array.isArray(doc) }).toEqual({ form, array: f.array });
  checkObjects(Array.isArray(doc) ? doc : [doc], f.keys, form);
  expect(strings(doc)).not.toContain('-');
  return doc;
}

type Obj = { [key: string]: Json };
const objs = (doc: Json) => doc as Obj[];

let s: TmpStore;
beforeAll(() => {
  s = tmpStore('qubes-xml/q10.xml');
});

test('qvm-prefs: list and get; a value that is none is null; a change refuses --format json', async () => {
  const list = objs(documented(run('qvm-prefs', ['--format', 'json', 'vm0001'], s.env), 'qvm-prefs', 'qvm-prefs VMNAME'));
  expect(list.find((p) => p.name === 'netvm')).toEqual({ name: 'netvm', value: 'sys-firewall', is_default: true });
  expect(list.find((p) => p.name === 'memory')).toMatchObject({ value: expect.any(Number) });
  expect(list.find((p) => p.name === 'autostart')).toMatchObject({ value: false });
  expect(list.find((p) => p.name === 'default_dispvm')).toMatchObject({ value: null });
  expect(documented(await runIn('qvm-prefs', ['--format', 'json', 'sys-net', 'netvm'], s.env), 'qvm-prefs', 'qvm-prefs VMNAME PROPERTY')).toEqual({
    name: 'netvm',
    value: null,
    is_default: false,
  });
  const before = s.read();
  expect(await runIn('qvm-prefs', ['--format', 'json', 'vm0001', 'memory', '500'], s.env)).toEqual({
    code: 2,
    stdout: '',
    stderr: 'qvm-prefs: error: --format json applies to listing and showing only, not to setting a value\n',
  });
  expect(await runIn('qvm-prefs', ['--format', 'json', 'no-such-qube'], s.env)).toMatchObject({ code: 2, stdout: '' });
  expect(s.read()).toBe(before);
});

test('qubes-prefs: list and get', async () => {
  const list = objs(documented(run('qubes-prefs', ['--format', 'json'], s.env), 'qubes-prefs', 'qubes-prefs'));
  expect(list.find((p) => p.name === 'default_netvm')).toMatchObject({ value: 'sys-firewall' });
  const none = list.find((p) => p.value === null);
  expect(none).toBeDefined();
  expect(documented(await runIn('qubes-prefs', ['--format', 'json', (none as Obj).name as string], s.env), 'qubes-prefs', 'qubes-prefs PROPERTY')).toEqual(none);
});

test('qvm-features: list and get; a feature not set exits 1 with nothing printed', async () => {
  expect(documented(run('qvm-features', ['--format', 'json', 'vm0001'], s.env), 'qvm-features', 'qvm-features VMNAME')).toEqual([{ name: 'service.cups', value: '1' }]);
  expect(documented(await runIn('qvm-features', ['--format', 'json', 'vm0001', 'service.cups'], s.env), 'qvm-features', 'qvm-features VMNAME FEATURE')).toEqual({
    name: 'service.cups',
    value: '1',
  });
  expect(await runIn('qvm-features', ['--format', 'json', 'vm0001', 'no-such'], s.env)).toEqual({ code: 1, stdout: '', stderr: '' });
});

test('qvm-service: list and get, enabled as a boolean', async () => {
  expect((await runIn('qvm-service', ['vm0002', 'cups', 'off'], s.env)).code).toBe(0);
  expect(documented(run('qvm-service', ['--format', 'json', 'vm0001'], s.env), 'qvm-service', 'qvm-service VMNAME')).toEqual([{ name: 'cups', enabled: true }]);
  expect(documented(await runIn('qvm-service', ['--format', 'json', 'vm0002', 'cups'], s.env), 'qvm-service', 'qvm-service VMNAME SERVICE')).toEqual({
    name: 'cups',
    enabled: false,
  });
});

test('qvm-tags: list, and list TAG', async () => {
  const tags = objs(documented(run('qvm-tags', ['--format', 'json', 'vm0001'], s.env), 'qvm-tags', 'qvm-tags VMNAME list'));
  expect(tags.map((t) => t.name)).toContain('bulk-import');
  expect(documented(await runIn('qvm-tags', ['--format', 'json', 'vm0001', 'list', 'bulk-import'], s.env), 'qvm-tags', 'qvm-tags VMNAME list TAG')).toEqual({ name: 'bulk-import' });
  expect((await runIn('qvm-tags', ['--format', 'json', 'vm0001', 'add', 'x'], s.env)).code).toBe(2);
});

test('qvm-pool: list, drivers, info (null where the driver has no such setting)', async () => {
  expect(documented(run('qvm-pool', ['list', '--format', 'json'], s.env), 'qvm-pool', 'qvm-pool list')).toEqual([
    { name: 'varlibqubes', driver: 'file' },
    { name: 'linux-kernel', driver: 'linux-kernel' },
  ]);
  const drivers = objs(documented(await runIn('qvm-pool', ['drivers', '--format', 'json'], s.env), 'qvm-pool', 'qvm-pool drivers'));
  expect(drivers.find((d) => d.name === 'linux-kernel')).toEqual({ name: 'linux-kernel', options: [{ name: 'dir_path', required: true }] });
  expect(documented(await runIn('qvm-pool', ['info', 'varlibqubes', '--format', 'json'], s.env), 'qvm-pool', 'qvm-pool info')).toMatchObject({
    name: 'varlibqubes',
    driver: 'file',
    included_in: null,
    revisions_to_keep: 1,
    ephemeral_volatile: false,
    options: { dir_path: '/var/lib/qubes' },
  });
  expect(documented(await runIn('qvm-pool', ['-i', 'linux-kernel', '--format', 'json'], s.env), 'qvm-pool', 'qvm-pool info')).toMatchObject({
    revisions_to_keep: null,
    ephemeral_volatile: null,
  });
});

test('qvm-volume: list and info (source null where there is none)', async () => {
  const list = objs(documented(run('qvm-volume', ['list', '--format', 'json', 'vm0001'], s.env), 'qvm-volume', 'qvm-volume list'));
  expect(list).toContainEqual({ pool: 'varlibqubes', vid: 'appvms/vm0001/private', vm: 'vm0001', volume: 'private', revert_possible: false });
  const info = documented(await runIn('qvm-volume', ['info', '--format', 'json', 'vm0001:private'], s.env), 'qvm-volume', 'qvm-volume info');
  expect(info).toMatchObject({ vm: 'vm0001', volume: 'private', rw: true, source: null, size: 2147483648, revisions: [] });
  expect(await runIn('qvm-volume', ['info', '--format', 'json', 'vm0001:private', 'rw'], s.env)).toMatchObject({ code: 0, stdout: '{\n  "rw": true\n}\n' });
});

describe('qvm-device and its class names', () => {
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    // one PCI device in a sysfs of our own, no block or USB devices
    const sys = tmpDir('json-sysfs-');
    const pci = path.join(sys, 'devices', 'pci0000:00', '0000:00:14.0');
    fs.mkdirSync(pci, { recursive: true });
    fs.mkdirSync(path.join(sys, 'bus', 'pci', 'devices'), { recursive: true });
    for (const [f, v] of [['vendor', '0x8086'], ['device', '0xa0ed'], ['class', '0x0c0330']]) fs.writeFileSync(path.join(pci, f as string), `${v}\n`);
    fs.symlinkSync('../../../devices/pci0000:00/0000:00:14.0', path.join(sys, 'bus', 'pci', 'devices', '0000:00:14.0'));
    const dev = tmpDir('json-dev-');
    env = { ...s.env, QUBES_SYSFS_ROOT: sys, QUBES_DEV_DIR: dev };
  });

  test('a device, its SBDF; an assignment of any device with its options, sbdf and device_id null', async () => {
    const pciRow = { backend: 'dom0', port: '00_14.0', device_id: '0x8086:0xa0ed::p0c0330', sbdf: '0000:00:14.0', assignment: false, used_by: [] };
    expect(documented(run('qvm-pci', ['list', '--format', 'json'], env), 'qvm-device', 'qvm-device CLASS list')).toEqual([expect.objectContaining(pciRow)]);
    expect(documented(run('qvm-device', ['pci', 'list', '--format', 'json'], env), 'qvm-device', 'qvm-device CLASS list')).toEqual([expect.objectContaining(pciRow)]);
    expect((await runIn('qvm-block', ['assign', '--port', '-o', 'read-only=yes', 'vm0001', 'dom0:sdz'], env)).code).toBe(0);
    expect(documented(run('qvm-block', ['list', '-s', '--format', 'json'], env), 'qvm-device', 'qvm-device CLASS list')).toEqual([
      {
        backend: 'dom0',
        port: 'sdz',
        device_id: null,
        sbdf: null,
        description: 'any device',
        assignment: true,
        used_by: [{ qube: 'vm0001', mode: 'auto-attach', assigned: true, options: { 'read-only': 'yes' } }],
      },
    ]);
    expect(documented(run('qvm-usb', ['--format', 'json'], env), 'qvm-device', 'qvm-device CLASS list')).toEqual([]);
  });
});

test('qvm-firewall list: the fields of each rule, null where not set, expire in seconds since the epoch', async () => {
  expect((await runIn('qvm-firewall', ['vm0001', 'add', '--before', '0', 'drop', 'dsthost=10.1.2.3', 'proto=tcp', 'dstports=80-90', 'expire=+3600'], s.env)).code).toBe(0);
  const rules = objs(documented(run('qvm-firewall', ['vm0001', 'list', '--format', 'json'], s.env), 'qvm-firewall', 'qvm-firewall VMNAME list'));
  expect(rules[0]).toMatchObject({ number: 0, action: 'drop', dsthost: '10.1.2.3/32', proto: 'tcp', dstports: '80-90', specialtarget: null, icmptype: null, comment: null });
  expect(rules[0]?.expire).toBeGreaterThan(Date.now() / 1000);
  expect(rules.at(-1)).toEqual({ number: rules.length - 1, action: 'accept', dsthost: null, proto: null, dstports: null, specialtarget: null, icmptype: null, expire: null, comment: null });
  expect(await runIn('qvm-firewall', ['vm0001', 'list', '--raw', '--format', 'json'], s.env)).toEqual({
    code: 2,
    stdout: '',
    stderr: 'qvm-firewall: error: --format json cannot be combined with --raw\n',
  });
});

test('qvm-check: every qube checked, null for the checks not asked, the same exit status, no messages', async () => {
  const r = run('qvm-check', ['--format', 'json', '--template', 'vm0001', 'fedora-41', 'nope'], s.env);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('');
  expect(checked(r.stdout, 'qvm-check', 'qvm-check')).toEqual([
    { name: 'fedora-41', exists: true, running: null, paused: null, template: true, networked: null, passed: true },
    { name: 'nope', exists: false, running: null, paused: null, template: null, networked: null, passed: false },
    { name: 'vm0001', exists: true, running: null, paused: null, template: false, networked: null, passed: false },
  ]);
  const some = await runIn('qvm-check', ['--format', 'json', '--template', 'vm0001', 'fedora-41'], s.env);
  expect(some.code).toBe(3);
  checked(some.stdout, 'qvm-check', 'qvm-check');
});

describe('qvm-backup-restore', () => {
  let backup: string;
  let pass: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // a small backup of our own (the vectors' take minutes to verify on a busy machine): a template, a qube on it, and vm0001, a name the host has
    const src = tmpDir('json-backup-src-');
    const srcEnv = { ...process.env, QUBES_XML_PATH: path.join(src, 'qubes.xml'), QUBES_BASE_DIR: src, QUBES_OFFLINE_MODE: '1', QUBES_BACKUP_SCRYPT_LOGN: '14' };
    pass = path.join(src, 'pass');
    fs.writeFileSync(pass, 'p\n');
    for (const args of [[], ['-C', 'TemplateVM', '-l', 'black', 'tpl'], ['-l', 'blue', '-t', 'tpl', 'work'], ['-l', 'red', '-t', 'tpl', 'vm0001']])
      expect(await runIn(args.length ? 'qvm-create' : 'qubes-create', args, srcEnv)).toMatchObject({ code: 0 });
    fs.mkdirSync(path.join(src, 'dest'));
    expect(await runIn('qvm-backup', ['-y', '-q', '-x', 'dom0', '-p', pass, path.join(src, 'dest')], srcEnv)).toMatchObject({ code: 0 });
    backup = path.join(src, 'dest', fs.readdirSync(path.join(src, 'dest'))[0] as string);
    const home = tmpDir('json-home-');
    env = { ...s.env, QUBES_DOM0_HOME: home, QUBES_DOM0_USER: 'user', QUBES_BACKUP_SCRYPT_LOGN: '14' };
  });

  test('--verify-only: the plan and the qubes verified', () => {
    const before = s.read();
    const doc = documented(run('qvm-backup-restore', ['-q', '--verify-only', '--format', 'json', '-p', pass, backup], env), 'qvm-backup-restore', 'qvm-backup-restore') as Obj;
    expect(doc).toMatchObject({ verify_only: true, declined: false, restored: [], verified: ['tpl', 'vm0001', 'work'], warnings: [] });
    expect(objs(doc.qubes as Json)).toEqual([
      expect.objectContaining({ name: 'tpl', restore_name: 'tpl', class: 'TemplateVM', template: null, original_template: null, label: 'black', problems: [] }),
      expect.objectContaining({ name: 'vm0001', template: 'tpl', problems: [] }),
      expect.objectContaining({ name: 'work', class: 'AppVM', template: 'tpl', label: 'blue', problems: [] }),
    ]);
    expect(s.read()).toBe(before);
  });

  test('the plan, with its problems, when the question is answered no; the question on standard error', async () => {
    const before = s.read();
    const r = await runIn('qvm-backup-restore', ['--skip-conflicting', '--format', 'json', backup], env, 'p\nn\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Do you want to proceed? [y/N] ');
    const doc = checked(r.stdout, 'qvm-backup-restore', 'qvm-backup-restore') as Obj;
    expect(doc).toMatchObject({ verify_only: false, declined: true, restored: [], verified: [] });
    expect(objs(doc.qubes as Json).find((q) => q.name === 'vm0001')).toMatchObject({ restore_name: 'vm0001', problems: ['already-exists'] });
    expect(s.read()).toBe(before);
  });
});

test('qvm-ls --format json: a missing value is null, not -', async () => {
  const doc = documented(run('qvm-ls', ['--format', 'json', 'dom0'], s.env), 'qvm-ls', 'qvm-ls');
  expect(doc).toEqual([{ NAME: 'dom0', STATE: 'Running', CLASS: 'AdminVM', LABEL: 'black', TEMPLATE: null, NETVM: null }]);
  expect(JSON.parse((await runIn('qvm-ls', ['--format', 'json', '-O', 'name,no_such_prop', 'sys-net'], s.env)).stdout)).toEqual([{ NAME: 'sys-net', 'NO-SUCH-PROP': null }]);
});

test('completion offers the values of --format', () => {
  const env = { ...s.env, QUBES_XML_PATH: s.xml };
  expect(completeLine('qvm-prefs --format ', env)).toEqual(['text', 'json']);
  expect(completeLine('qvm-pool info --format j', env)).toEqual(['json']);
  expect(completeLine('qvm-firewall vm0001 list --format ', env)).toEqual(['text', 'json']);
  expect(completeLine('qvm-ls --format j', env)).toEqual(['json']);
});
