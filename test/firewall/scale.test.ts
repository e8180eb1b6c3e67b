// Long rule lists: listing, adding to and cloning a qube with 50,000 rules
// costs about ten times what 5,000 rules cost (it was quadratic: 10,000
// rules took 24 s to list), through the built executables.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

let s: TmpStore;
beforeAll(() => {
  s = tmpStoreLocalPools('qubes-xml/q10.xml');
  fs.mkdirSync(path.join(s.dir, 'appvms', 'vm0001'), { recursive: true });
  fs.writeFileSync(path.join(s.dir, 'appvms', 'vm0001', 'private.img'), 'data');
});
afterAll(() => {
  fs.rmSync(s.dir, { recursive: true, force: true });
});

const fwFile = (vm: string) => path.join(s.dir, 'appvms', vm, 'firewall.xml');

/** A firewall.xml of n rules as the reference writes it, each with an address, a protocol and a port. */
function writeRules(vm: string, n: number): void {
  const rule = (i: number) =>
    `    <rule>\n      <properties>\n        <property name="action">accept</property>\n` +
    `        <property name="dsthost">10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32</property>\n` +
    `        <property name="proto">tcp</property>\n        <property name="dstports">${i % 65536}</property>\n` +
    `      </properties>\n    </rule>\n`;
  const rules: string[] = [];
  for (let i = 0; i < n; i++) rules.push(rule(i));
  fs.mkdirSync(path.dirname(fwFile(vm)), { recursive: true });
  fs.writeFileSync(fwFile(vm), `<firewall version="2">\n  <rules>\n${rules.join('')}  </rules>\n</firewall>\n`);
}

/** Run bin/NAME; wall time in ms (killed after 60 s, which fails the test). */
function timed(name: string, args: string[]): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(path.join(ROOT, 'bin', name), args, { env: s.env, encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  expect({ name, args, status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ name, args, status: 0, signal: null, stderr: '' });
  return { ms, stdout: r.stdout };
}

/** Best of two runs of `op` (the machine may be busy with other work). */
const best = (op: () => number) => Math.min(op(), op());

test('list, add and clone grow linearly with the number of rules', () => {
  const cost: Record<string, number[]> = { list: [], add: [], clone: [] };
  for (const n of [5_000, 50_000]) {
    writeRules('vm0001', n);
    cost.list?.push(
      best(() => {
        const r = timed('qvm-firewall', ['vm0001', 'list']);
        expect(r.stdout.split('\n')).toHaveLength(n + 2); // header, rows, final newline
        return r.ms;
      }),
    );
    let added = 0;
    cost.add?.push(best(() => timed('qvm-firewall', ['vm0001', 'add', 'drop', `192.168.0.${++added}`]).ms));
    expect(fs.readFileSync(fwFile('vm0001'), 'utf8').match(/<rule>/g)).toHaveLength(n + 2);
    let clones = 0;
    cost.clone?.push(
      best(() => {
        const name = `big${n}-${++clones}`;
        const ms = timed('qvm-clone', ['vm0001', name]).ms;
        expect(fs.readFileSync(fwFile(name), 'utf8')).toBe(fs.readFileSync(fwFile('vm0001'), 'utf8'));
        return ms;
      }),
    );
  }
  // Ten times the rules: about ten times the work plus a fixed start-up, never a hundred times.
  for (const [op, [small, large]] of Object.entries(cost) as [string, [number, number]][])
    expect({ op, small, large, linear: large < 20 * small }).toEqual({ op, small, large, linear: true });
});
