import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { lxmlErrors, ROOT, run, tmpStore, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

/**
 * Hostile or damaged input to the store: characters XML 1.0 forbids,
 * invalid UTF-8, special files and oversized files in place of qubes.xml.
 * Each is refused with one line, a non-zero exit and nothing changed; every
 * store the tools write parses with lxml.
 */

/** Run with a time limit (a command that reads forever must not hang the suite). */
function runLimited(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(path.join(ROOT, 'bin', cmd), args, { env, input: '', encoding: 'utf8', timeout: 8000, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** One line on stderr matching `message`, exit 1, nothing on stdout, the store's bytes unchanged. */
function refused(s: TmpStore, cmd: string, args: string[], message: RegExp, env: NodeJS.ProcessEnv = s.env) {
  const before = fs.existsSync(s.xml) ? fs.readFileSync(s.xml) : undefined;
  const r = runLimited(cmd, args, env);
  expect(r.signal).toBeNull();
  expect(r.stderr).toMatch(new RegExp(`^${cmd}: error: .*\n$`));
  expect(r.stderr.replace(/\n$/, '')).toMatch(message);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  if (before) expect(fs.readFileSync(s.xml).equals(before)).toBe(true);
}

/** The q10 store with `to` (bytes) in place of `from`. */
function damaged(from: string, to: Buffer): TmpStore {
  const s = tmpStore('qubes-xml/q10.xml');
  const src = fs.readFileSync(s.xml);
  const at = src.indexOf(from);
  expect(at).toBeGreaterThan(0);
  fs.writeFileSync(s.xml, Buffer.concat([src.subarray(0, at), to, src.subarray(at + from.length)]));
  return s;
}

/** Line and column (1-based, in characters) where `needle` starts in the store. */
function where(s: TmpStore, needle: Buffer): string {
  const src = fs.readFileSync(s.xml);
  const before = src.subarray(0, src.indexOf(needle)).toString('utf8');
  const lines = before.split('\n');
  return `line ${lines.length}, column ${(lines[lines.length - 1] as string).length + 1}`;
}

const stores: TmpStore[] = [];
afterAll(() => {
  for (const s of stores) fs.rmSync(s.dir, { recursive: true, force: true });
});
const track = (s: TmpStore) => (stores.push(s), s);

describe('qubes.xml: what XML 1.0 forbids is refused with line and column', () => {
  const feature = '<feature name="service.cups">1</feature>';
  test.each([
    ['a character reference to U+0001 (&#1;)', Buffer.from('<feature name="x-a">a&#1;b</feature>'), Buffer.from('&#1;'), /character reference &#1; names a character XML 1.0 does not allow/],
    ['a reference to U+0002 in an attribute', Buffer.from('<feature name="x&#x2;">1</feature>'), Buffer.from('&#x2;'), /character reference &#x2;/],
    ['a raw control character', Buffer.from('<feature name="x-a">a\u0001b</feature>'), Buffer.from('\u0001'), /character U\+0001 is not allowed in XML 1\.0/],
    ['U+FFFE', Buffer.from('<feature name="x-a">\ufffe</feature>'), Buffer.from('\ufffe'), /character U\+FFFE is not allowed/],
    ['invalid UTF-8 (0xff)', Buffer.from([...Buffer.from('<feature name="x-a">\u00e9'), 0xff, ...Buffer.from('</feature>')]), Buffer.from([0xff]), /invalid UTF-8 \(byte 0xff\)/],
    ['an encoded surrogate', Buffer.from([...Buffer.from('<feature name="x-a">'), 0xed, 0xa0, 0x80, ...Buffer.from('</feature>')]), Buffer.from([0xed, 0xa0, 0x80]), /invalid UTF-8 \(byte 0xed\)/],
  ])('%s: qvm-ls and a write refuse the store, which is left as it was', (_what, bad, needle, reason) => {
    const s = track(damaged(feature, bad));
    const pos = where(s, needle).replace(/[()]/g, '\\$&');
    const message = new RegExp(`malformed XML: ${reason.source}.* \\(${pos}\\)$`, 'm');
    refused(s, 'qvm-ls', [], message);
    refused(s, 'qvm-features', ['vm0001', 'x-b', '1'], message);
  });
});

describe('values with characters XML 1.0 forbids never reach the store', () => {
  test.each([
    ['qvm-prefs', ['vm0001', 'kernelopts', 'a\u0001b'], /^qvm-prefs: error: Value of property kernelopts must be printable ASCII$/],
    ['qvm-prefs', ['vm0001', 'netvm', 'a\u0001\nb'], /^qvm-prefs: error: Can't set netvm to non-existing qube a\\x01\\nb$/],
    ['qvm-prefs', ['vm0001', 'label', 're\nd'], /^qvm-prefs: error: .*label.*$/],
    ['qvm-prefs', ['vm0001', 'debug', '\u0002'], /^qvm-prefs: error: Invalid literal for boolean property: '\\x02'$/],
    ['qubes-prefs', ['default_kernel', '\u0003'], /^qubes-prefs: error: Value of property default_kernel must be printable ASCII$/],
    ['qvm-features', ['vm0001', 'x-a', 'a\u0002b'], /^qvm-features: error: Feature value must be printable ASCII$/],
    ['qvm-features', ['vm0001', 'x\nb', '1'], /^qvm-features: error: Invalid feature name: 'x\\nb'/],
    ['qvm-tags', ['vm0001', 'add', 'a\u001bb'], /^qvm-tags: error: Invalid tag: 'a\\x1bb'/],
    ['qvm-tags', ['vm0001', 'add', 'a\nb'], /^qvm-tags: error: Invalid tag: 'a\\nb'/],
    ['qvm-service', ['vm0001', 'a\u0001', 'on'], /^qvm-service: error: Invalid feature name: 'service\.a\\x01'/],
  ])('%s %j: one line, control characters shown escaped', (cmd, args, message) => {
    const s = track(tmpStore('qubes-xml/q10.xml'));
    refused(s, cmd, args, message);
  });

});

test('every store the commands write parses with lxml; what no command checks is refused by the writer', () => {
  const s = track(tmpStoreLocalPools('qubes-xml/q10.xml'));
  const steps: [string, string[]][] = [
    ['qvm-features', ['vm0001', 'x-markup', `<a href="x">&amp; 'q' ]]> --></a>`]],
    ['qvm-features', ['vm0001', 'x-empty', '']],
    ['qvm-prefs', ['vm0001', 'kernelopts', `a<b & "c" 'd' ]]>`]],
    ['qvm-prefs', ['vm0001', 'memory', '9007199254740991']],
    ['qvm-tags', ['vm0001', 'add', 'tag-1', 'TAG_2']],
    ['qvm-service', ['vm0001', 'cups', 'on']],
    ['qubes-prefs', ['default_kernel', '']],
    ['qvm-create', ['-l', 'red', '-t', 'fedora-41', 'new-vm']],
    ['qvm-clone', ['new-vm', 'new-vm-clone']],
    ['qvm-remove', ['-f', 'vm0003']],
  ];
  const written: string[] = [];
  steps.forEach(([cmd, args], i) => {
    const r = run(cmd, args, s.env);
    expect({ cmd, args, stderr: r.stderr, code: r.code }).toEqual({ cmd, args, stderr: '', code: 0 });
    const copy = path.join(s.dir, `after-${i}.xml`);
    fs.copyFileSync(s.xml, copy);
    written.push(copy);
  });
  // No command checks a pool's settings for characters: the writer does, before anything is written.
  refused(
    s,
    'qvm-pool',
    ['add', 'p1', 'file', '-o', `dir_path=${s.dir}/p\u0001`],
    /Cannot save .*qubes\.xml: attribute dir_path holds the character U\+0001, which XML 1\.0 does not allow$/,
  );
  written.push(s.xml);
  expect(lxmlErrors(written)).toEqual(new Map());
});

describe('special and oversized files in place of qubes.xml are refused, not read', () => {
  const servers: net.Server[] = [];
  afterAll(() => servers.forEach((sv) => sv.close()));
  const cases: [string, (s: TmpStore) => string | Promise<string>, RegExp][] = [
    ['/dev/zero (never ends)', () => '/dev/zero', /\/dev\/zero is a character device; qubes\.xml must be a regular file$/],
    [
      'a FIFO (the open would block)',
      (s) => {
        const p = path.join(s.dir, 'fifo.xml');
        expect(spawnSync('mkfifo', [p]).status).toBe(0);
        return p;
      },
      /fifo\.xml is a FIFO; qubes\.xml must be a regular file$/,
    ],
    [
      'a socket',
      async (s) => {
        const p = path.join(s.dir, 'sock.xml');
        const server = net.createServer();
        await new Promise<void>((r) => server.listen(p, r));
        servers.push(server); // closing it would remove the socket file
        return p;
      },
      /sock\.xml is a socket; qubes\.xml must be a regular file$/,
    ],
    ['a directory', (s) => s.dir, /is a directory; qubes\.xml must be a regular file$/],
    [
      'a file over 64 MiB',
      (s) => {
        const p = path.join(s.dir, 'huge.xml');
        fs.writeFileSync(p, '<qubes>');
        fs.truncateSync(p, 64 * 1024 * 1024 + 1); // sparse: costs no disk
        return p;
      },
      /huge\.xml is larger than 64 MiB, the most qubes\.xml may hold$/,
    ],
  ];
  test.each(cases)('%s', async (_what, make, message) => {
    const s = track(tmpStore());
    const file = await make(s);
    const env = { ...s.env, QUBES_XML_PATH: file };
    for (const [cmd, args] of [
      ['qvm-ls', []],
      ['qvm-prefs', ['dom0', 'default_dispvm', '']],
    ] as [string, string[]][]) {
      const t0 = Date.now();
      const r = runLimited(cmd, args, env);
      expect({ signal: r.signal, code: r.code, stdout: r.stdout }).toEqual({ signal: null, code: 1, stdout: '' });
      expect(r.stderr).toMatch(new RegExp(`^${cmd}: error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*\n$`));
      expect(r.stderr.trim()).toMatch(message);
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });
});
