import fs from 'node:fs';
import { run, tmpStore, vector } from '../helpers.js';

describe('qubes-create', () => {
  test('writes a fresh, loadable store and refuses to overwrite it', () => {
    const s = tmpStore();
    const r = run('qubes-create', ['--offline-mode'], s.env);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const xml = s.read();
    const labels = fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8').match(/ {2}<labels>[\s\S]*?<\/labels>\n/)?.[0];
    expect(xml.startsWith(`<qubes>\n${labels}`)).toBe(true);
    expect(xml).toMatch(
      new RegExp(
        `<pool name="varlibqubes" dir_path="${s.dir}" driver="(file|file-reflink)" revisions_to_keep="1" ephemeral_volatile="False"/>\n` +
          ` *<pool name="linux-kernel" dir_path="${s.dir}/vm-kernels" driver="linux-kernel"/>`,
      ),
    );
    expect(xml).toContain('<properties>\n    <property name="default_pool_kernel">linux-kernel</property>\n  </properties>');
    expect(xml).toContain('<domain id="domain-0" class="AdminVM">\n      <properties>\n        <property name="label">black</property>');
    expect(xml.match(/<domain /g)).toHaveLength(1);
    expect(fs.statSync(s.xml).mode & 0o777).toBe(0o660);
    // every pool was set up: the file pool's directories, the kernels' directory
    expect(fs.readdirSync(s.dir).sort()).toEqual(['appvms', 'qubes.xml', 'vm-kernels', 'vm-templates']);

    expect(run('qvm-features', ['dom0'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run('qvm-features', ['dom0', 'x-installed', '1'], s.env).code).toBe(0);
    const after = s.read();
    const again = run('qubes-create', [], s.env);
    expect(again).toEqual({ code: 1, stdout: '', stderr: `qubes-create: error: ${s.xml} already exists, aborting\n` });
    expect(s.read()).toBe(after);
  });

  test('the new store takes new qubes in its default pool', () => {
    const s = tmpStore();
    expect(run('qubes-create', [], s.env).code).toBe(0);
    expect(run('qvm-create', ['-C', 'TemplateVM', '-l', 'black', 'fedora'], s.env).code).toBe(0);
    expect(s.read()).toContain('<volume name="root" pool="varlibqubes" vid="vm-templates/fedora/root"');
    expect(fs.statSync(`${s.dir}/vm-templates/fedora/root.img`).size).toBe(10 * 1024 ** 3);
  });

  test('refuses an existing (even empty) file and leaves it alone', () => {
    const s = tmpStore();
    fs.writeFileSync(s.xml, '');
    const r = run('qubes-create', [], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists, aborting\n$/);
    expect(s.read()).toBe('');
  });
});
