/**
 * Format 3 applies the completeness rules of format 4: in an authenticated
 * format 3 backup (HMAC and encryption made right with the passphrase), a
 * qube's inner archive that is empty, names another file, holds a `../`
 * member, a link, or an extra member fails the restore and --verify-only
 * alike; so does a template's directory archive (`vm-templates/NAME/.`)
 * without the qube's private image, or with a member outside its directory.
 * Both reference vectors: unencrypted (`appvms/NAME/` paths) and encrypted
 * (`vmNN/`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { vector } from '../helpers.js';
import { expectRefused, freshHost, passFile, readMembers, writeMembers, type Member } from './backup-env.js';
import { tarOf, v3File, v3Replace, type TarItem } from './forge.js';

const PASS = 'qubes';
/** Qubes of the vectors that need nothing from the host: a template (directory archive), an AppVM on it, a standalone qube. */
const QUBES = ['test-template-clone', 'test-custom-template-appvm', 'test-standalonevm'];

describe.each([
  ['plain-gzip', undefined, 'appvms/test-custom-template-appvm', 'vm-templates/test-template-clone'],
  ['encrypted-gzip', PASS, 'vm10', 'vm9'],
] as const)('format 3 vector %s', (kind, encryptPass, app, tpl) => {
  let good: Member[];
  let bad: (base: string, inner: Buffer) => Member[];
  const refused = (members: Member[], message: RegExp) => expectRefused(members, message, { pass: PASS, after: QUBES });

  beforeAll(async () => {
    good = await readMembers(vector(`backup-v3/${kind}/backup.bin`));
    bad = (base, inner) => v3Replace(good, base, inner, PASS, encryptPass);
  });

  const image = Buffer.alloc(4096, 7);
  /** A template's directory as R3.2 archived it (`tar -C vm-templates/NAME .`), with a symlink and a subdirectory that are not used. */
  const tplDir: TarItem[] = [
    { name: `${tpl}/./`, type: '5' },
    { name: `${tpl}/./icon.png`, type: '2', linkname: '/usr/share/qubes/icons/green.png' },
    { name: `${tpl}/./root.img`, data: image },
    { name: `${tpl}/./apps/`, type: '5' },
    { name: `${tpl}/./apps/firefox.desktop`, data: Buffer.from('[Desktop Entry]\n') },
    { name: `${tpl}/./private.img`, data: image },
  ];
  const withoutPrivate = tplDir.filter((i) => !i.name.endsWith('/private.img'));

  test('control: the vector with forged files of the same shape restores', () => {
    const h = freshHost();
    const file = path.join(h.dir, 'forged');
    const forged = v3Replace(bad(`${app}/private.img`, tarOf([{ name: `${app}/private.img`, data: image }])), `${tpl}/.`, tarOf(tplDir), PASS, encryptPass);
    writeMembers(file, forged);
    const r = h.q('qvm-backup-restore', '-p', passFile(h.dir, PASS), file, ...QUBES);
    expect(r.stderr).toContain('-> Done.');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(h.img('test-custom-template-appvm', 'private'))).toEqual(image);
    expect(fs.readFileSync(h.img('test-template-clone', 'root'))).toEqual(image);
    expect(fs.readFileSync(h.img('test-template-clone', 'private'))).toEqual(image);
  });

  test("a volume's inner archive: empty, another name, a '../' member, a symlink, an extra member", () => {
    const base = `${app}/private.img`;
    const data = Buffer.alloc(1024, 1);
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    refused(bad(base, tarOf([])), new RegExp(`${esc(base)} missing from inner archive of ${esc(base)}$`));
    refused(bad(base, tarOf([{ name: `${app}/other.img`, data }])), new RegExp(`Unexpected member ${esc(app)}/other\\.img in inner archive of ${esc(base)}$`));
    refused(bad(base, tarOf([{ name: `${app}/../../../tmp/evil.img`, data }])), /Unexpected member .*\/\.\.\/\.\.\/\.\.\/tmp\/evil\.img in inner archive/);
    refused(bad(base, tarOf([{ name: base, type: '2', linkname: '/etc/shadow' }])), new RegExp(`Member ${esc(base)} in inner archive of ${esc(base)} is not a regular file$`));
    refused(bad(base, tarOf([{ name: base, data }, { name: `${app}/icon.png`, data }])), /Unexpected member .*\/icon\.png in inner archive/);
  });

  test("a template's directory archive: without private.img, a '../' member, a member outside it, private.img as a symlink or twice", () => {
    const base = `${tpl}/.`;
    const x = Buffer.from('x');
    refused(bad(base, tarOf(withoutPrivate)), /The backup is incomplete: .*private\.img of test-template-clone missing from the archive$/);
    refused(bad(base, tarOf([...tplDir, { name: `${tpl}/./../../evil`, data: x }])), /Unexpected member .*\/\.\/\.\.\/\.\.\/evil in inner archive/);
    refused(bad(base, tarOf([...tplDir, { name: 'appvms/elsewhere/private.img', data: x }])), /Unexpected member appvms\/elsewhere\/private\.img in inner archive/);
    refused(bad(base, tarOf([...withoutPrivate, { name: `${tpl}/./private.img`, type: '2', linkname: '/etc/shadow' }])), /Member .*\/\.\/private\.img in inner archive of .* is not a regular file$/);
    // private.img in the directory archive and again as a file of its own
    const twice = bad(base, tarOf(tplDir));
    twice.splice(twice.findIndex((m) => m.name.startsWith(`${base}.000`)) + 2, 0, ...v3File(`${tpl}/private.img`, tarOf([{ name: `${tpl}/private.img`, data: image }]), PASS, encryptPass));
    refused(twice, new RegExp(`Unexpected file in archive: ${tpl}/private\\.img appears twice$`));
  });
});
