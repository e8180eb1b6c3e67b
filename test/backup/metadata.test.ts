/**
 * What a backup's qubes.xml says about a qube passes the commands' checks
 * before it can reach the store: a feature name qvm-features refuses, a
 * service name qvm-service refuses (format 3: from the R3.2 services
 * attribute), a tag qvm-tags refuses, or any text with a character XML 1.0
 * forbids (`&#2;`, a raw control byte) refuses the restore of that qube
 * with one line, before anything is written; the store stays one that
 * lxml parses. Device assignments go through qvm-device's assign: what it
 * refuses is not restored, with a warning.
 */
import path from 'node:path';
import { vector } from '../helpers.js';
import { domainFacts, domains, expectRefused, freshHost, lxmlError, passFile, readMembers, writeMembers, type Member } from './backup-env.js';
import { tarOf, untar, v3Decode, v3Replace, v4QubesXml, v4WithQubesXml } from './forge.js';

const PASS = 'metadata';
let good: Member[];
let xml: string;

beforeAll(async () => {
  const src = freshHost();
  src.ok('qvm-create', '-C', 'TemplateVM', '-l', 'black', 'tpl');
  src.ok('qvm-create', '-l', 'blue', '-t', 'tpl', 'work');
  src.ok('qvm-features', 'work', 'fine', 'value');
  const dest = path.join(src.dir, 'dest');
  src.ok('qvm-backup', '-y', '-q', '-p', passFile(src.dir, PASS), `${dest}-backup`, 'tpl', 'work');
  good = await readMembers(`${dest}-backup`);
  xml = await v4QubesXml(good, PASS);
});

/** `xml` with `insert` added after the opening tag `<tag>` inside work's domain. */
const intoWork = (tag: string, insert: string) => {
  const out = xml.replace(new RegExp(`(<property name="name">work</property>[\\s\\S]*?<${tag}>)`), `$1\n        ${insert}`);
  if (out === xml) throw new Error(`no <${tag}> in work's domain`);
  return out;
};

const refused = async (qubesXml: string | Buffer, message: RegExp) => expectRefused(await v4WithQubesXml(good, PASS, qubesXml), message, { pass: PASS });

test('control: the same qubes.xml forged anew restores, and the store parses with lxml', async () => {
  const h = freshHost();
  const file = path.join(h.dir, 'forged');
  writeMembers(file, await v4WithQubesXml(good, PASS, xml));
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file);
  expect(r.code).toBe(0);
  expect(domainFacts(domains(h.xml()).get('work') as never).features.get('fine')).toBe('value');
  expect(lxmlError(path.join(h.dir, 'qubes.xml'))).toBeUndefined();
});

test('a feature value with &#2; or a raw control byte: refused, the store still parses with lxml', async () => {
  // either the XML reader or the restore's check may name it; one line, nothing restored
  const forbidden = (cp: string, ref: string) => new RegExp(`(U\\+${cp}|${ref}).*(XML|allow)`);
  await refused(intoWork('features', '<feature name="evil">a&#2;b</feature>'), forbidden('0002', '&#2;'));
  await refused(intoWork('features', '<feature name="evil">a\u0002b</feature>'), forbidden('0002', '\u0002'));
});

test('a feature name qvm-features refuses, a service name qvm-service refuses, a tag qvm-tags refuses', async () => {
  await refused(intoWork('features', '<feature name="bad name">1</feature>'), /^qvm-backup-restore: error: qube 'work' of the backup: Invalid feature name: 'bad name'/);
  await refused(intoWork('features', `<feature name="service.${'x'.repeat(60)}">1</feature>`), /^qvm-backup-restore: error: qube 'work' of the backup: Service name too long/);
  await refused(intoWork('tags', '<tag name="bad tag"/>'), /^qvm-backup-restore: error: qube 'work' of the backup: Invalid tag: 'bad tag'/);
});

test("device assignments are made with qvm-device's checks: a refused one is a warning, a valid one is restored", async () => {
  const devs =
    '<devices class="usb"><device backend-domain="dom0" id="2-1" mode="auto-attach" identity="*"><option name="frobnicate">yes</option></device></devices>' +
    '<devices class="block"><device backend-domain="dom0" id="sdb" mode="auto-attach" identity="*"><option name="read-only">yes</option></device></devices>';
  const withDevices = xml.replace(/(<property name="name">work<\/property>[\s\S]*?<tags>[\s\S]*?<\/tags>|<property name="name">work<\/property>[\s\S]*?<tags\/>)/, `$1\n      ${devs}`);
  expect(withDevices).not.toBe(xml);
  const h = freshHost();
  const file = path.join(h.dir, 'forged');
  writeMembers(file, await v4WithQubesXml(good, PASS, withDevices));
  const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('qubesadmin.backup: usb device dom0:2-1 of work not assigned: Unsupported option frobnicate');
  expect(h.ok('qvm-device', 'block', 'list', '--assignments', 'work')).toContain('dom0:sdb');
  expect(h.ok('qvm-device', 'usb', 'list', '--assignments', 'work')).not.toContain('2-1');
  expect(lxmlError(path.join(h.dir, 'qubes.xml'))).toBeUndefined();
  // a device id XML cannot hold refuses the qube
  await refused(withDevices.replace('id="sdb"', 'id="sd&#3;b"'), /(U\+0003|&#3;).*(XML|allow)/);
});

test('format 3: a service name with a control character or a slash in the R3.2 services attribute', async () => {
  const v3 = await readMembers(vector('backup-v3/plain-gzip/backup.bin'));
  const xmlChunk = v3.find((m) => m.name === 'qubes.xml.000') as Member;
  const r3 = ((await untar(v3Decode(xmlChunk.data, undefined), false)).get('qubes.xml') as Buffer).toString('utf8');
  const withService = (svc: string) => {
    const out = r3.replace(/(<QubesHVm [^>]*services=")\{/, `$1{'${svc}': True, `);
    if (out === r3) throw new Error('no services attribute on the HVM');
    return v3Replace(v3, 'qubes.xml', tarOf([{ name: 'qubes.xml', data: Buffer.from(out) }]), 'qubes', undefined);
  };
  const opts = { pass: 'qubes', after: ['test-testhvm'] };
  expectRefused(withService('cups&#1;x'), /(U\+0001|&#1;|Invalid feature name: 'service\.cups\u0001x').*/, opts);
  expectRefused(withService('a/b'), /^qvm-backup-restore: error: qube 'test-testhvm' of the backup: Invalid feature name: 'service\.a\/b'/, opts);
  // the untouched R3.2 store restores that qube
  const h = freshHost();
  const file = path.join(h.dir, 'v3');
  writeMembers(file, withService('cups'));
  expect(h.q('qvm-backup-restore', '-p', passFile(h.dir, 'qubes'), file, 'test-testhvm').code).toBe(0);
  expect(lxmlError(path.join(h.dir, 'qubes.xml'))).toBeUndefined();
});
