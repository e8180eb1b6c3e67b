import fs from 'node:fs';
import path from 'node:path';
import { domainXml, fileHead, run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

const store = (): TmpStore => tmpStoreLocalPools('qubes-xml/q10.xml');

const domain = domainXml;
const prop = (dom: string, p: string) => new RegExp(`<property name="${p}">([^<]*)</property>`).exec(dom)?.[1];

/** Give a q10 qube a private image with some data; returns the data. */
function privateImage(s: TmpStore, vm: string): Buffer {
  const file = path.join(s.dir, 'appvms', vm, 'private.img');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = Buffer.from(`private data of ${vm}\n`.repeat(100));
  fs.writeFileSync(file, data);
  fs.truncateSync(file, 2 * 1024 ** 3);
  return data;
}

const head = fileHead;

describe('qvm-clone', () => {
  test('copies properties, features, tags and the private data; new qid and uuid', () => {
    const s = store();
    const data = privateImage(s, 'vm0000');
    const r = run('qvm-clone', ['vm0000', 'copy'], s.env);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const src = domain(s.read(), 'vm0000');
    const dom = domain(s.read(), 'copy');
    expect(dom).toMatch(/^<domain id="domain-14" class="AppVM">/);
    expect(prop(dom, 'qid')).toBe('14');
    expect(prop(dom, 'uuid')).not.toBe(prop(src, 'uuid'));
    expect(prop(dom, 'uuid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(prop(dom, 'memory')).toBe('600');
    expect(prop(dom, 'label')).toBe('red');
    expect(prop(dom, 'template')).toBe('fedora-41');
    expect(dom).toContain('<feature name="service.cups">1</feature>');
    expect(dom).toContain('<tag name="bulk-import"/>');
    expect(dom).toContain('<tag name="created-by-dom0"/>');
    expect(dom).toContain('vid="appvms/copy/private"');
    const img = path.join(s.dir, 'appvms/copy/private.img');
    expect(fs.statSync(img).size).toBe(2 * 1024 ** 3);
    expect(fs.statSync(img).blocks * 512).toBeLessThan(1024 * 1024);
    expect(head(img, data.length).equals(data)).toBe(true);
    expect(head(path.join(s.dir, 'appvms/vm0000/private.img'), data.length).equals(data)).toBe(true);
  });

  test('created-by-* tags and preload-dispvm* features are not copied (preload-dispvm-max is)', () => {
    const s = store();
    privateImage(s, 'vm0001');
    // as the system keeps them: qvm-features may not set preload-dispvm, nor preload-dispvm-max
    // without qrexec, and created-by-* tags come from the qube that created this one
    const src = s.read();
    const source = domain(src, 'vm0001');
    fs.writeFileSync(
      s.xml,
      src.replace(
        source,
        source
          .replace('<features>\n', '<features>\n' + [['preload-dispvm', 'x'], ['preload-dispvm-max', '2'], ['x-keep', 'y']].map(([f, v]) => `        <feature name="${f}">${v}</feature>\n`).join(''))
          .replace('<tags>\n', '<tags>\n        <tag name="created-by-sys-gui"/>\n'),
      ),
    );
    expect(run('qvm-clone', ['vm0001', 'c2'], s.env).code).toBe(0);
    const dom = domain(s.read(), 'c2');
    expect(dom).not.toContain('"preload-dispvm"');
    expect(dom).toContain('<feature name="preload-dispvm-max">2</feature>');
    expect(dom).toContain('<feature name="x-keep">y</feature>');
    expect(dom).not.toContain('created-by-sys-gui');
    expect(dom).toContain('<tag name="created-by-dom0"/>');
  });

  test('-C StandaloneVM copies the template root as the new root', () => {
    const s = store();
    privateImage(s, 'vm0002');
    const root = path.join(s.dir, 'vm-templates/fedora-41/root.img');
    fs.mkdirSync(path.dirname(root), { recursive: true });
    fs.writeFileSync(root, 'template root');
    fs.truncateSync(root, 10 * 1024 ** 3);
    expect(run('qvm-clone', ['-C', 'StandaloneVM', 'vm0002', 'sa'], s.env).code).toBe(0);
    const dom = domain(s.read(), 'sa');
    expect(dom).toMatch(/class="StandaloneVM"/);
    expect(prop(dom, 'template')).toBeUndefined();
    expect(head(path.join(s.dir, 'appvms/sa/root.img'), 13).toString()).toBe('template root');
    expect(fs.statSync(path.join(s.dir, 'appvms/sa/root.img')).size).toBe(10 * 1024 ** 3);
  });

  test('errors exit non-zero and change nothing', () => {
    const s = store();
    privateImage(s, 'vm0003');
    const before = s.read();
    const cases: [string[], number, RegExp][] = [
      [['vm0004', 'c'], 1, /Creating the volumes of c failed, qube removed: Missing image file: .*\/appvms\/vm0004\/private.img/],
      [['vm0003', 'vm0001'], 1, /Qube already exists: vm0001$/],
      [['vm0003', '-bad'], 2, /unknown option/],
      [['vm0003', 'bad name'], 1, /illegal characters/],
      [['nosuch', 'c'], 2, /no such domain: 'nosuch'$/],
      [['dom0', 'c'], 1, /Cannot clone dom0/],
      [['-P', 'varlibqubes', '-p', 'private=varlibqubes', 'vm0003', 'c'], 2, /cannot be used together/],
      [['-C', 'AdminVM', 'vm0003', 'c'], 2, /no such domain class/],
      [['vm0003'], 2, /missing required argument/],
    ];
    for (const [args, code, msg] of cases) {
      const r = run('qvm-clone', args, s.env);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(/^qvm-clone: error: /);
      expect(r.stderr.trim()).toMatch(msg);
    }
    expect(s.read()).toBe(before);
    expect(fs.readdirSync(path.join(s.dir, 'appvms'))).toEqual(['vm0003']);
  });

  test('--ignore-errors turns a property that cannot be copied into a warning, printed after the clone', () => {
    const s = store();
    privateImage(s, 'vm0000');
    fs.writeFileSync(
      s.xml,
      s.read().replace('<property name="name">vm0000</property>', '<property name="name">vm0000</property>\n        <property name="kernel">nosuchkernel</property>'),
    );
    const before = s.read();
    const strict = run('qvm-clone', ['vm0000', 'copy'], s.env);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^qvm-clone: error: Failed to copy property kernel: /);
    expect(s.read()).toBe(before);
    const r = run('qvm-clone', ['--ignore-errors', 'vm0000', 'copy'], s.env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^qvm-clone: warning: Failed to copy property kernel: [^\n]*\n$/);
    expect(prop(domain(s.read(), 'copy'), 'kernel')).toBeUndefined();
  });
});
