import fs from 'node:fs';
import { run, tmpStore } from '../helpers.js';

/** Run a write; expect one stderr line, exit `code`, and no change on disk. */
function refused(s: ReturnType<typeof tmpStore>, cmd: string, args: string[], code: number, message: RegExp) {
  const before = fs.existsSync(s.xml) ? s.read() : undefined;
  const r = run(cmd, args, s.env);
  expect(r.code).toBe(code);
  expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.stdout).toBe('');
  expect(fs.existsSync(s.xml) ? s.read() : undefined).toBe(before);
  expect(fs.readdirSync(s.dir).filter((n) => n !== 'qubes.xml')).toEqual([]);
}

const edit = (s: ReturnType<typeof tmpStore>, from: string, to: string) => fs.writeFileSync(s.xml, s.read().replace(from, to));

describe('bad input', () => {
  test('missing store', () => {
    const s = tmpStore();
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /Qubes XML store '.*qubes.xml' is missing; use qubes-create tool/);
  });

  test('malformed XML names the line', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, '<features/>', '<features>');
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /malformed XML: end tag <\/domain> does not match <features> \(line \d+, column \d+\)/);
  });

  test('empty store file', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    fs.writeFileSync(s.xml, '');
    refused(s, 'qvm-prefs', ['dom0'], 1, /malformed XML: no root element/);
  });

  test('unknown class', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, 'class="TemplateVM"', 'class="FancyVM"');
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /no such VM class: 'FancyVM'/);
  });

  test('duplicate qid', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, '<property name="qid">5</property>', '<property name="qid">4</property>');
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /Duplicate qid 4/);
  });

  test('duplicate name', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, '<property name="name">vm0001</property>', '<property name="name">vm0000</property>');
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /Qube already exists: vm0000/);
  });

  test('dangling reference in the store', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, '<property name="netvm">sys-net</property>', '<property name="netvm">sys-gone</property>');
    refused(s, 'qvm-prefs', ['dom0'], 1, /Can't set netvm to non-existing qube sys-gone/);
  });

  test('invalid property values', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    refused(s, 'qvm-prefs', ['vm0001', 'debug', 'maybe'], 1, /^qvm-prefs: error: Invalid literal for boolean property: 'maybe'$/m);
    refused(s, 'qvm-prefs', ['vm0001', 'memory', 'lots'], 1, /Invalid literal for integer property memory: 'lots'/);
    refused(s, 'qvm-prefs', ['vm0001', 'vcpus', '0'], 1, /vcpus must be positive/);
    refused(s, 'qvm-prefs', ['vm0001', 'label', 'pink'], 1, /Label does not exist: pink/);
    refused(s, 'qvm-prefs', ['vm0001', 'netvm', 'vm0002'], 1, /The vm0002 qube does not provide network/);
    refused(s, 'qvm-prefs', ['sys-net', 'netvm', 'sys-firewall'], 1, /Loops in network are unsupported/);
    refused(s, 'qvm-prefs', ['vm0001', 'name', 'other'], 1, /property 'name' is write-once and already set/);
    refused(s, 'qvm-prefs', ['vm0001', 'virt_mode', 'xen'], 1, /expected one of: hvm, pv, pvh/);
    refused(s, 'qvm-prefs', ['vm0001', 'template', 'vm0002'], 1, /must be a TemplateVM/);
    refused(s, 'qvm-prefs', ['vm0001', 'template', '--default'], 1, /Cannot unset template/);
    refused(s, 'qvm-prefs', ['vm0001', 'xid', '3'], 1, /property 'xid' cannot be set/);
    refused(s, 'qvm-prefs', ['vm0001', 'no_such', '3'], 2, /no such property: 'no_such'/);
    refused(s, 'qubes-prefs', ['default_template', 'vm0001'], 1, /Qube vm0001 is not a TemplateVM/);
    refused(s, 'qubes-prefs', ['default_netvm', 'vm0001'], 1, /does not provide network/);
    refused(s, 'qubes-prefs', ['default_dispvm', 'fedora-41'], 1, /VM fedora-41 is not allowed to create disposables/);
  });

  test('invalid qube names', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    refused(s, 'qvm-prefs', ['no-such-qube', 'memory', '500'], 2, /no such domain: 'no-such-qube'/);
    refused(s, 'qvm-tags', ['vm0001', 'add', 'bad tag'], 1, /Invalid tag: 'bad tag'/);
    refused(s, 'qvm-features', ['vm0001', 'bad name!', '1'], 1, /Invalid feature name/);
  });
});

describe('values the reference words differently, or that could not be kept exactly', () => {
  test('an integer that cannot be represented exactly is refused, not rounded', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    refused(s, 'qvm-prefs', ['vm0001', 'memory', '99999999999999999999'], 1, /^qvm-prefs: error: Integer property memory out of range: '99999999999999999999' \(at most 9007199254740991 in absolute value\)$/m);
    refused(s, 'qvm-prefs', ['vm0001', 'vcpus', '-9007199254740993'], 1, /Integer property vcpus out of range/);
    expect(run('qvm-prefs', ['vm0001', 'memory', '9007199254740991'], s.env).code).toBe(0);
    expect(run('qvm-prefs', ['vm0001', 'memory'], s.env).stdout).toBe('9007199254740991\n');
  });

  test('an integer in the store that cannot be represented exactly is refused on load', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    edit(s, '<property name="qid">5</property>', '<property name="qid">99999999999999999999</property>');
    refused(s, 'qvm-features', ['dom0', 'x', '1'], 1, /Integer property qid out of range/);
  });

  test("a netvm that cannot provide network (dom0): the reference's words", () => {
    const s = tmpStore('qubes-xml/q10.xml');
    refused(s, 'qvm-prefs', ['vm0001', 'netvm', 'dom0'], 1, /^qvm-prefs: error: The dom0 qube does not provide network$/m);
    refused(s, 'qubes-prefs', ['default_netvm', 'dom0'], 1, /^qubes-prefs: error: The dom0 qube does not provide network$/m);
  });
});

describe('system errors', () => {
  test('system errors in plain words with the path, never an errno code', () => {
    const s = tmpStore();
    const r = run('qubes-create', ['--offline-mode'], { ...s.env, QUBES_XML_PATH: '/dev/full/qubes.xml' });
    expect(r.stderr).toBe('qubes-create: error: Cannot create directory /dev/full: file exists\n');
    expect(r.code).toBe(1);
  });
});
