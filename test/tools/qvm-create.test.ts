import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { lockStore } from '../../lib/app/store-lock.js';
import { domainXml, ROOT, run, tmpStoreLocalPools, type TmpStore } from '../helpers.js';
import { specialFiles } from './special-files.js';

const store = (): TmpStore => tmpStoreLocalPools('qubes-xml/q10.xml');

const domain = domainXml;

/** The first n bytes of a (possibly huge, sparse) file. */
function head(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

const prop = (dom: string, p: string) => new RegExp(`<property name="${p}">([^<]*)</property>`).exec(dom)?.[1];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('qvm-create', () => {
  test('creates an AppVM: record, volumes, tags and a sparse private image', () => {
    const s = store();
    const r = run('qvm-create', ['-l', 'blue', 'work'], s.env);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const dom = domain(s.read(), 'work');
    expect(dom).toMatch(/^<domain id="domain-14" class="AppVM">/);
    expect(prop(dom, 'label')).toBe('blue');
    expect(prop(dom, 'template')).toBe('fedora-41');
    expect(prop(dom, 'qid')).toBe('14');
    expect(prop(dom, 'uuid')).toMatch(UUID_RE);
    expect(s.read().match(new RegExp(prop(dom, 'uuid') as string, 'g'))).toHaveLength(1);
    expect(dom).toContain(
      `<volume name="root" pool="varlibqubes" vid="appvms/work/root" revisions_to_keep="0" rw="True" save_on_stop="False" snap_on_start="True" size="10737418240" source="vm-templates/fedora-41/root"/>`,
    );
    expect(dom).toContain(
      `<volume name="private" pool="varlibqubes" vid="appvms/work/private" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="2147483648"/>`,
    );
    expect(dom).toContain(
      `<volume name="volatile" pool="varlibqubes" vid="appvms/work/volatile" revisions_to_keep="0" rw="True" save_on_stop="False" snap_on_start="False" size="10737418240"/>`,
    );
    expect(dom).toContain(
      `<volume name="kernel" pool="linux-kernel" vid="None" revisions_to_keep="0" rw="False" save_on_stop="False" snap_on_start="False"/>`,
    );
    expect(dom).toContain('<tag name="created-by-dom0"/>');
    expect(dom).toContain('<tag name="guivm-dom0"/>');
    expect(dom).toContain('<tag name="audiovm-dom0"/>');
    const img = path.join(s.dir, 'appvms/work/private.img');
    const st = fs.statSync(img);
    expect(st.size).toBe(2 * 1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    expect(fs.existsSync(path.join(s.dir, 'appvms/work/root.img'))).toBe(false);
    // the new qube is usable by the other tools
    expect(run('qvm-features', ['work', 'x-y', 'z'], s.env).code).toBe(0);
  });

  test('qid is the smallest free one (freed qids are reused)', () => {
    const s = store();
    expect(run('qvm-remove', ['-f', 'vm0003'], s.env).code).toBe(0);
    expect(run('qvm-create', ['-l', 'red', 'again'], s.env).code).toBe(0);
    expect(prop(domain(s.read(), 'again'), 'qid')).toBe('7');
  });

  test('TemplateVM and StandaloneVM get their own root images', () => {
    const s = store();
    expect(run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', 'tpl'], s.env).code).toBe(0);
    expect(run('qvm-create', ['--standalone', '-l', 'green', 'alone'], s.env).code).toBe(0);
    const tpl = domain(s.read(), 'tpl');
    expect(tpl).toMatch(/class="TemplateVM"/);
    expect(prop(tpl, 'template')).toBeUndefined();
    expect(tpl).toContain('<volume name="root" pool="varlibqubes" vid="vm-templates/tpl/root" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="10737418240"/>');
    expect(fs.statSync(path.join(s.dir, 'vm-templates/tpl/root.img')).size).toBe(10 * 1024 ** 3);
    expect(fs.statSync(path.join(s.dir, 'vm-templates/tpl/private.img')).size).toBe(2 * 1024 ** 3);
    const alone = domain(s.read(), 'alone');
    expect(alone).toMatch(/class="StandaloneVM"/);
    expect(prop(alone, 'template')).toBeUndefined();
    expect(alone).toContain('vid="appvms/alone/root"');
    expect(fs.statSync(path.join(s.dir, 'appvms/alone/root.img')).size).toBe(10 * 1024 ** 3);
  });

  test('StandaloneVM with --template copies the template (settings and root data, not private)', () => {
    const s = store();
    const root = path.join(s.dir, 'vm-templates/fedora-41/root.img');
    fs.mkdirSync(path.dirname(root), { recursive: true });
    const data = Buffer.from('template root data '.repeat(1000));
    fs.writeFileSync(root, data);
    fs.truncateSync(root, 10 * 1024 ** 3);
    fs.writeFileSync(path.join(s.dir, 'vm-templates/fedora-41/private.img'), 'template private');
    expect(run('qvm-features', ['fedora-41', 'os', 'Linux'], s.env).code).toBe(0);
    expect(run('qvm-tags', ['fedora-41', 'add', 'tpl-tag'], s.env).code).toBe(0);
    expect(run('qvm-create', ['--standalone', '-t', 'fedora-41', '-l', 'purple', 'copy'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    const dom = domain(s.read(), 'copy');
    expect(dom).toMatch(/class="StandaloneVM"/);
    expect(prop(dom, 'label')).toBe('purple');
    expect(dom).toContain('<feature name="os">Linux</feature>');
    expect(dom).toContain('<tag name="tpl-tag"/>');
    const copied = path.join(s.dir, 'appvms/copy/root.img');
    expect(head(copied, data.length + 10).equals(Buffer.concat([data, Buffer.alloc(10)]))).toBe(true);
    expect(fs.statSync(copied).size).toBe(10 * 1024 ** 3);
    const priv = fs.statSync(path.join(s.dir, 'appvms/copy/private.img'));
    expect(priv.size).toBe(2 * 1024 ** 3);
    expect(priv.blocks).toBe(0);
  });

  test('--prop values are applied; a bad one exits 2 but keeps the qube', () => {
    const s = store();
    expect(run('qvm-create', ['-l', 'red', '--prop', 'memory=800', '--property', 'netvm=sys-net', 'p1'], s.env).code).toBe(0);
    const dom = domain(s.read(), 'p1');
    expect(prop(dom, 'memory')).toBe('800');
    expect(prop(dom, 'netvm')).toBe('sys-net');
    const r = run('qvm-create', ['-l', 'red', '--prop', 'memory=lots', '--prop', 'vcpus=3', 'p2'], s.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^qvm-create: error: Error setting property memory \(but VM created\): /);
    const dom2 = domain(s.read(), 'p2');
    expect(prop(dom2, 'memory')).toBeUndefined();
    expect(prop(dom2, 'vcpus')).toBe('3');
  });

  test('bad input exits non-zero with one line and leaves the store and disk alone', () => {
    const s = store();
    const before = s.read();
    const cases: [string[], number, RegExp][] = [
      [['work'], 2, /--label option is mandatory/],
      [['-l', 'nocolor', 'work'], 2, /no such label: 'nocolor'; available: red, orange, yellow, green, gray, blue, purple, black$/],
      [['-l', 'red', '9lives'], 1, /Error creating VM: VM name contains illegal characters/],
      [['-l', 'red', 'vm0001'], 1, /Error creating VM: Qube already exists: vm0001$/],
      [['-l', 'red', '-t', 'nope', 'work'], 1, /Error creating VM: no such domain: 'nope'$/],
      [['-l', 'red', '-t', 'sys-net', 'work'], 1, /must be a TemplateVM/],
      [['-l', 'red', '-C', 'FooVM', 'work'], 2, /no such domain class: 'FooVM'$/],
      [['-l', 'red', '-C', 'AdminVM', 'work'], 2, /no such domain class: 'AdminVM'$/],
      [['-l', 'red', '-C', 'TemplateVM', '-t', 'fedora-41', 'work'], 1, /not based on a template/],
      [['-l', 'red', '-p', 'private', 'work'], 2, /Pool argument must be of form: -p volume_name=pool_name$/],
      [['-l', 'red', '-P', 'varlibqubes', '-p', 'private=varlibqubes', 'work'], 2, /cannot be used together/],
      [['-l', 'red', '-P', 'nopool', 'work'], 1, /No such storage pool: nopool$/],
      [['-l', 'red', '-r', '/nonexistent', '--standalone', 'work'], 2, /does not exist/],
      [['-l', 'red', '-r', s.xml, 'work'], 2, /cannot be used with AppVM/],
      [['-l', 'red'], 2, /VMNAME is mandatory/],
    ];
    for (const [args, code, msg] of cases) {
      const r = run('qvm-create', args, s.env);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(/^qvm-create: error: /);
      expect(r.stderr.trim()).toMatch(msg);
      expect(r.stdout).toBe('');
    }
    expect(s.read()).toBe(before);
    expect(fs.existsSync(path.join(s.dir, 'appvms'))).toBe(false);
  });

  test('--help-classes lists the creatable classes', () => {
    const s = store();
    expect(run('qvm-create', ['--help-classes'], s.env)).toEqual({ code: 0, stdout: 'AppVM\nDispVM\nStandaloneVM\nTemplateVM\n', stderr: '' });
  });

  test('--disp creates a disposable named disp<dispid> with label red', () => {
    const s = store();
    expect(run('qvm-create', ['-l', 'blue', '--prop', 'template_for_dispvms=True', 'dvm'], s.env).code).toBe(0);
    expect(run('qvm-tags', ['dvm', 'add', 'from-dvm'], s.env).code).toBe(0);
    expect(run('qvm-create', ['--disp', '-t', 'dvm'], s.env).code).toBe(0);
    const m = /<property name="name">(disp(\d+))<\/property>/.exec(s.read());
    expect(m).not.toBeNull();
    const dom = domain(s.read(), (m as RegExpExecArray)[1] as string);
    expect(dom).toMatch(/class="DispVM"/);
    expect(prop(dom, 'dispid')).toBe((m as RegExpExecArray)[2]);
    expect(prop(dom, 'label')).toBe('red');
    expect(prop(dom, 'template')).toBe('dvm');
    expect(dom).toContain('<tag name="from-dvm"/>');
    expect(dom).toMatch(/<volume name="private" pool="varlibqubes" vid="appvms\/disp\d+\/private" revisions_to_keep="0" rw="True" save_on_stop="False" snap_on_start="True" size="2147483648" source="appvms\/dvm\/private"\/>/);
    expect(dom).toContain('size="12884901888"');
    // snapshot volumes have no image of their own; the volatile one is made at start
    const own = fs.readdirSync(path.join(s.dir, 'appvms', (m as RegExpExecArray)[1] as string));
    expect(own.filter((f) => /^(root|private)/.test(f))).toEqual([]);
  });

  test('-P / -p choose pools; snapshot volumes stay with the template', () => {
    const s = store();
    const other = path.join(s.dir, 'other');
    expect(run('qvm-pool', ['add', 'other', 'file', '-o', `dir_path=${other}`, '-o', 'revisions_to_keep=0'], s.env).code).toBe(0);
    expect(run('qvm-create', ['-l', 'red', '-P', 'other', 'onother'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    const dom = domain(s.read(), 'onother');
    expect(dom).toContain('<volume name="root" pool="varlibqubes" vid="appvms/onother/root"');
    expect(dom).toContain('<volume name="private" pool="other" vid="appvms/onother/private" revisions_to_keep="0"');
    expect(dom).toContain('<volume name="volatile" pool="other" vid="appvms/onother/volatile"');
    expect(dom).toContain('<volume name="kernel" pool="linux-kernel"');
    expect(fs.statSync(path.join(other, 'appvms/onother/private.img')).size).toBe(2 * 1024 ** 3);
    expect(run('qvm-create', ['-l', 'red', '-p', 'volatile=other', 'mixed'], s.env).code).toBe(0);
    const mixed = domain(s.read(), 'mixed');
    expect(mixed).toContain('<volume name="private" pool="varlibqubes"');
    expect(mixed).toContain('<volume name="volatile" pool="other"');
    const before = s.read();
    const bad = run('qvm-create', ['-l', 'red', '-p', 'root=other', 'snap'], s.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/must stay in pool varlibqubes/);
    expect(s.read()).toBe(before);
  });

  test('a pool whose driver fails (lvm_thin without LVM) fails the create and leaves nothing', () => {
    const s = store();
    fs.writeFileSync(
      s.xml,
      s.read().replace(
        '<pool name="linux-kernel"',
        '<pool name="lvm" volume_group="qubes_dom0" thin_pool="vm-pool" driver="lvm_thin" revisions_to_keep="2" ephemeral_volatile="False"/>\n    <pool name="linux-kernel"',
      ),
    );
    const before = s.read();
    const r = run('qvm-create', ['-l', 'red', '-P', 'lvm', 'onlvm'], { ...s.env, PATH: path.dirname(process.execPath) });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('qvm-create: error: Error creating VM: Creating the volumes of onlvm failed, qube removed: lvm: command not found\n');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(s.read()).toBe(before);
    expect(fs.existsSync(path.join(s.dir, 'appvms/onlvm'))).toBe(false);
  });

  test('--root-copy-from fills the root image; a larger file grows the volume; -R moves', () => {
    const s = store();
    const file = path.join(s.dir, 'root.raw');
    const data = Buffer.from('bootable '.repeat(5000));
    fs.writeFileSync(file, data);
    expect(run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', '-r', file, 'imported'], s.env).code).toBe(0);
    const img = path.join(s.dir, 'vm-templates/imported/root.img');
    expect(fs.statSync(img).size).toBe(10 * 1024 ** 3);
    expect(head(img, data.length).equals(data)).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
    const big = path.join(s.dir, 'big.raw');
    fs.writeFileSync(big, 'x');
    fs.truncateSync(big, 11 * 1024 ** 3);
    expect(run('qvm-create', ['--standalone', '-l', 'black', '-R', big, 'grown'], s.env).code).toBe(0);
    expect(fs.existsSync(big)).toBe(false);
    expect(fs.statSync(path.join(s.dir, 'appvms/grown/root.img')).size).toBe(11 * 1024 ** 3);
    expect(domain(s.read(), 'grown')).toContain(`vid="appvms/grown/root" revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="${11 * 1024 ** 3}"`);
  });

  test('a root image that is a character device, FIFO, socket or directory is refused at once; nothing is made', async () => {
    const s = store();
    const before = s.read();
    const special = await specialFiles(s.dir);
    try {
      for (const [file, kind] of special.files) {
        for (const opt of ['-r', '-R']) {
          // /dev/zero was copied until killed, a FIFO blocked on open: both must end at once
          const r = spawnSync(path.join(ROOT, 'bin', 'qvm-create'), ['-C', 'TemplateVM', '-l', 'black', opt, file, 'tz'], { env: s.env, encoding: 'utf8', timeout: 20000 });
          expect({ file, code: r.status, stderr: r.stderr }).toEqual({
            file,
            code: 2,
            stderr: `qvm-create: error: File pointed by --root-copy-from/--root-move-from is ${kind}, not an image file: ${file}\n`,
          });
        }
      }
    } finally {
      special.close();
    }
    expect(s.read()).toBe(before);
    expect(fs.existsSync(path.join(s.dir, 'vm-templates', 'tz'))).toBe(false);
    expect(fs.existsSync(special.fifo)).toBe(true);
  });

  test('a failed root import makes nothing (exit 1, no qube kept: the README knows no exit code 3)', () => {
    const s = store();
    const before = s.read();
    const file = path.join(s.dir, 'root.raw');
    fs.writeFileSync(file, 'root data');
    // the import target cannot be made: a directory stands where its temporary file goes
    fs.mkdirSync(path.join(s.dir, 'vm-templates', 'tz', 'root-import.img'), { recursive: true });
    const r = run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', '-r', file, 'tz'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qvm-create: error: Error creating VM: Creating the volumes of tz failed, qube removed: [^\n]+\n$/);
    expect(s.read()).toBe(before);
    expect(fs.existsSync(path.join(s.dir, 'vm-templates', 'tz'))).toBe(false);
    expect(fs.readdirSync(`${s.xml}.unfinished`)).toEqual([]);
  });

  test('a name another live command is creating or removing is refused; free again once it is done', async () => {
    const s = store();
    const before = s.read();
    // this test process holds the name, as a live qvm-clone would while it copies
    fs.mkdirSync(`${s.xml}.unfinished`);
    const release = await lockStore(path.join(`${s.xml}.unfinished`, 'busy'), 1000);
    try {
      const r = run('qvm-create', ['-l', 'red', 'busy'], s.env);
      expect(r).toEqual({
        code: 1,
        stdout: '',
        stderr: `qvm-create: error: Error creating VM: Another command (process ${process.pid}) is creating or removing qube busy; try again when it has finished\n`,
      });
      expect(s.read()).toBe(before);
      expect(fs.existsSync(path.join(s.dir, 'appvms', 'busy'))).toBe(false);
    } finally {
      await release();
    }
    expect(run('qvm-create', ['-l', 'red', 'busy'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
