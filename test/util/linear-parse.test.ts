import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStore } from '../helpers.js';

/**
 * Parsing is linear: the reader keeps offsets and computes a line only for
 * an error message. It used to compute the line of every element by
 * scanning from the start (TreeBuilder's `line: lineAt(...)`), so listing a
 * firewall of 10,000 rules took 24 s.
 */

/** A version-2 firewall.xml of `n` distinct rules, as the reference writes it. */
function firewallXml(n: number): string {
  const rule = (i: number) =>
    '    <rule>\n      <properties>\n' +
    '        <property name="action">accept</property>\n' +
    `        <property name="dsthost">10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32</property>\n` +
    '        <property name="proto">tcp</property>\n' +
    `        <property name="dstports">${1 + (i % 65535)}</property>\n` +
    '      </properties>\n    </rule>\n';
  const parts = ['<firewall version="2">\n  <rules>\n'];
  for (let i = 0; i < n; i++) parts.push(rule(i));
  parts.push('  </rules>\n</firewall>\n');
  return parts.join('');
}

test('the reader takes ten times as long for ten times the elements, not a hundred', () => {
  // In a child process, so that a quadratic reader fails by the time limit instead of hanging the suite.
  const script = `
    const { parseXml } = await import(${JSON.stringify(path.join(ROOT, 'dist/lib/util/xml-reader.js'))});
    const doc = (n) => { const p = ['<r>']; for (let i = 0; i < n; i++) p.push('<rule><properties><property name="action">accept</property><property name="dstports">' + i + '</property></properties></rule>\\n'); p.push('</r>'); return p.join(''); };
    const time = (src) => { const t = performance.now(); parseXml(src); return performance.now() - t; };
    const small = doc(10000), big = doc(100000);
    time(small); // warm up
    const tSmall = Math.min(time(small), time(small), time(small));
    const tBig = time(big);
    console.log(JSON.stringify({ tSmall, tBig }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL' });
  expect(r.signal).toBeNull();
  const { tSmall, tBig } = JSON.parse(r.stdout) as { tSmall: number; tBig: number };
  expect(tBig / tSmall).toBeLessThan(30);
});

/**
 * The promise is under 2 s on an idle machine. What is asserted is the
 * command's processor time (user + system, from bash's `time`), which is
 * what the wall time is when nothing else runs, and which other work on a
 * shared test machine does not inflate the way it stretches the wall time.
 */
test('qvm-firewall Q list shows 100,000 rules in under 2 s', () => {
  const s = tmpStore('qubes-xml/q10.xml');
  try {
    fs.mkdirSync(path.join(s.dir, 'appvms', 'vm0001'), { recursive: true });
    fs.writeFileSync(path.join(s.dir, 'appvms', 'vm0001', 'firewall.xml'), firewallXml(100000));
    const out = path.join(s.dir, 'list.txt');
    const t0 = Date.now();
    const r = spawnSync('bash', ['-c', 'TIMEFORMAT="%U %S"; { time "$@" >"$OUT"; } 2>&1', 'bash', path.join(ROOT, 'bin', 'qvm-firewall'), 'vm0001', 'list'], {
      env: { ...s.env, OUT: out },
      encoding: 'utf8',
      timeout: 120000,
      killSignal: 'SIGKILL',
    });
    const wallMs = Date.now() - t0;
    expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
    const m = /^([\d.]+) ([\d.]+)\n$/.exec(r.stdout); // nothing else on stderr, then the times
    expect(m).not.toBeNull();
    const cpuMs = (Number(m?.[1]) + Number(m?.[2])) * 1000;
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(100001); // header and the rules
    expect(lines[100000]).toMatch(/^99999 +accept +10\.1\.134\.159\/32 +tcp +34465 /);
    expect({ cpuMs, wallMs }).toEqual({ cpuMs: expect.any(Number), wallMs: expect.any(Number) });
    expect(cpuMs).toBeLessThan(2000);
  } finally {
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
});
