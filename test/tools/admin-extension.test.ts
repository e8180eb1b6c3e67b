// The reference's admin extension (qubes-core-admin qubes/ext/admin.py) as
// dom0's commands meet it: features kept by the system cannot be set or
// removed by qvm-features, and qubes created by a qube whose feature
// tag-created-vm-with lists tags get those tags (qvm-create, qvm-clone, and a
// created-by-* tag added by qvm-tags).
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { domainXml, runIn, tmpStore, tmpStoreLocalPools } from '../helpers.js';

const tags = async (env: NodeJS.ProcessEnv, vm: string) => (await runIn('qvm-tags', [vm], env)).stdout;

describe('prohibited features', () => {
  test.each(['preload-dispvm', 'preload-dispvm-completed', 'preload-dispvm-in-progress', 'deferred-netvm-original'])(
    'qvm-features refuses to set or remove %s, and changes nothing',
    async (f) => {
      const s = tmpStore('qubes-xml/q10.xml');
      // present as the system would keep it, so that a removal has something to remove
      const src = s.read();
      const dom = domainXml(src, 'vm0001');
      fs.writeFileSync(s.xml, src.replace(dom, dom.replace('<features>\n', `<features>\n        <feature name="${f}">x</feature>\n`)));
      const before = s.read();
      const line = `qvm-features: error: The feature ${f} is kept by the system and cannot be set or removed\n`;
      expect(await runIn('qvm-features', ['vm0001', f, 'y'], s.env)).toEqual({ code: 1, stdout: '', stderr: line });
      expect(await runIn('qvm-features', ['vm0001', f, '--unset'], s.env)).toEqual({ code: 1, stdout: '', stderr: line });
      expect(await runIn('qvm-features', ['dom0', f, 'y'], s.env)).toEqual({ code: 1, stdout: '', stderr: line });
      expect(s.read()).toBe(before);
      // reading stays possible
      expect(await runIn('qvm-features', ['vm0001', f], s.env)).toEqual({ code: 0, stdout: 'x\n', stderr: '' });
    },
  );
});

describe('tag-created-vm-with', () => {
  test("qvm-create and qvm-clone give a new qube the tags listed in dom0's feature", async () => {
    const s = tmpStoreLocalPools('qubes-xml/q10.xml');
    expect((await runIn('qvm-features', ['dom0', 'tag-created-vm-with', 'managed  project-x'], s.env)).code).toBe(0);
    expect(await runIn('qvm-create', ['-l', 'red', 'made'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await tags(s.env, 'made')).toBe('audiovm-dom0\ncreated-by-dom0\nguivm-dom0\nmanaged\nproject-x\n');
    expect((await runIn('qvm-features', ['dom0', 'tag-created-vm-with', 'cloned'], s.env)).code).toBe(0);
    expect(await runIn('qvm-clone', ['made', 'copy'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    // the source's tags (but its created-by-*), then dom0's list of now
    expect(await tags(s.env, 'copy')).toBe('audiovm-dom0\ncloned\ncreated-by-dom0\nguivm-dom0\nmanaged\nproject-x\n');
    expect(domainXml(s.read(), 'made')).toContain('<tag name="managed"/>');
  });

  test("adding a created-by-CREATOR tag adds CREATOR's listed tags; a CREATOR that does not exist is an error", async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-features', ['sys-net', 'tag-created-vm-with', 'from-net'], s.env)).code).toBe(0);
    expect(await runIn('qvm-tags', ['vm0002', 'add', 'created-by-sys-net'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await tags(s.env, 'vm0002')).toBe('audiovm-dom0\nbulk-import\ncreated-by-sys-net\nfrom-net\nguivm-dom0\n');
    const before = s.read();
    expect(await runIn('qvm-tags', ['vm0003', 'add', 'created-by-nosuch'], s.env)).toEqual({ code: 2, stdout: '', stderr: "qvm-tags: error: no such domain: 'nosuch'\n" });
    expect(s.read()).toBe(before);
  });
});
