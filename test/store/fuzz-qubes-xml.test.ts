import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { makeVmm } from '../../lib/vmm/open-vmm.js';
import { lxmlErrors, ROOT, vector } from '../helpers.js';
import { rng, type Rng } from '../fuzz-rng.js';

/**
 * Mutated qubes.xml files (from the reference's vectors: bit flips,
 * truncations, duplicated, removed and swapped elements, control
 * characters and forbidden character references, invalid UTF-8, huge
 * attribute values and texts, deep nesting), each through `qvm-ls` and a
 * writing command under a time limit. Every run ends within the limit and
 * either succeeds (a written store then parses with lxml and with ours) or
 * fails with exactly one line on stderr and no stack trace, leaving the
 * store byte for byte as it was. `qvm-ls` never changes the store.
 *
 * Deterministic: QUBES_FUZZ_SEED (printed) picks the cases,
 * QUBES_FUZZ_CASES how many (default 1000), QUBES_FUZZ_ONLY=N runs case N
 * alone. Two commands run at a time (CI has two cores).
 */

const SEED = Number(process.env.QUBES_FUZZ_SEED ?? 20250611);
const CASES = Number(process.env.QUBES_FUZZ_CASES ?? 1000);
const ONLY = process.env.QUBES_FUZZ_ONLY === undefined ? undefined : Number(process.env.QUBES_FUZZ_ONLY);
const LIMIT_MS = 15000;
const CONCURRENCY = 2;


const insertAt = (b: Buffer, at: number, what: Buffer) => Buffer.concat([b.subarray(0, at), what, b.subarray(at)]);

/** Line spans [start, end) of the file; an opening tag's span runs to its closing tag at the same indentation. */
function lineStarts(b: Buffer): number[] {
  const starts = [0];
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) starts.push(i + 1);
  return starts;
}
function elementSpan(b: Buffer, r: Rng): [number, number] {
  const starts = lineStarts(b);
  const i = r.int(starts.length - 1);
  const start = starts[i] as number;
  const line = b.subarray(start, starts[i + 1]).toString('latin1');
  const m = /^(\s*)<([A-Za-z_][-\w.]*)[^>]*[^/]>\s*$/.exec(line);
  if (m) {
    const close = `${m[1]}</${m[2]}>`;
    for (let j = i + 1; j < starts.length - 1; j++) {
      if (b.subarray(starts[j], (starts[j + 1] as number) - 1).toString('latin1') === close) return [start, starts[j + 1] as number];
    }
  }
  return [start, starts[i + 1] as number];
}

const FORBIDDEN = [0x0, 0x1, 0x2, 0x7, 0x8, 0xb, 0xc, 0xe, 0x1b, 0x1f];
const BAD_UTF8 = [[0xff], [0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xfe]];

const MUTATIONS: Record<string, (b: Buffer, r: Rng) => Buffer> = {
  bitFlip: (b, r) => {
    const c = Buffer.from(b);
    const at = r.int(c.length);
    c[at] = (c[at] as number) ^ (1 << r.int(8));
    return c;
  },
  truncate: (b, r) => b.subarray(0, r.int(b.length)),
  duplicateElement: (b, r) => {
    const [s, e] = elementSpan(b, r);
    return insertAt(b, e, b.subarray(s, e));
  },
  removeElement: (b, r) => {
    const [s, e] = elementSpan(b, r);
    return Buffer.concat([b.subarray(0, s), b.subarray(e)]);
  },
  swapElements: (b, r) => {
    const [s1, e1] = elementSpan(b, r);
    const [s2, e2] = elementSpan(b, r);
    if (e1 > s2 && e2 > s1) return b; // overlapping
    const [a, c] = s1 < s2 ? [[s1, e1], [s2, e2]] : [[s2, e2], [s1, e1]];
    return Buffer.concat([b.subarray(0, a[0]), b.subarray(c[0], c[1]), b.subarray(a[1], c[0]), b.subarray(a[0], a[1]), b.subarray(c[1])]);
  },
  controlCharacter: (b, r) => insertAt(b, r.int(b.length), Buffer.from([r.pick(FORBIDDEN)])),
  characterReference: (b, r) => {
    // Into text, where a reference means something: after a `>` that ends a tag.
    const at = b.indexOf('>', r.int(b.length));
    const ref = r.chance(0.2) ? r.pick(['&#9;', '&#x41;', '&#233;', '&#x1F600;']) : `&#${r.chance(0.5) ? 'x' + r.pick([...FORBIDDEN, 0xd800, 0xfffe, 0xffff]).toString(16) : r.pick(FORBIDDEN)};`;
    return insertAt(b, at === -1 ? b.length : at + 1, Buffer.from(ref));
  },
  invalidUtf8: (b, r) => insertAt(b, r.int(b.length), Buffer.from(r.pick(BAD_UTF8))),
  hugeAttribute: (b, r) => {
    const s = b.toString('utf8');
    const values = [...s.matchAll(/="([^"]*)"/g)];
    if (values.length === 0) return b;
    const v = r.pick(values);
    const at = (v.index as number) + 2;
    return Buffer.from(s.slice(0, at) + 'v'.repeat(50000 + r.int(250000)) + s.slice(at + (v[1] as string).length));
  },
  hugeText: (b, r) => {
    const s = b.toString('utf8');
    const texts = [...s.matchAll(/>([^<\n]+)</g)];
    if (texts.length === 0) return b;
    const t = r.pick(texts);
    const at = (t.index as number) + 1;
    return Buffer.from(s.slice(0, at) + 't'.repeat(50000 + r.int(250000)) + s.slice(at + (t[1] as string).length));
  },
  deepNesting: (b, r) => {
    const depth = r.pick([20, 200, 300, 5000, 100000]);
    const starts = lineStarts(b);
    return insertAt(b, starts[r.int(starts.length)] as number, Buffer.from('<n>'.repeat(depth) + '</n>'.repeat(depth)));
  },
  garbageValue: (b, r) => {
    const s = b.toString('utf8');
    const texts = [...s.matchAll(/<property name="([a-z_]+)">([^<]*)</g)];
    if (texts.length === 0) return b;
    const t = r.pick(texts);
    const at = (t.index as number) + t[0].length - (t[2] as string).length - 1;
    const value = r.pick(['', '-1', '99999999999999999999', 'None', 'True', 'vm0001', 'dom0', 'no such', 'x'.repeat(40), '0x1', ' 12 ']);
    return Buffer.from(s.slice(0, at) + value + s.slice(at + (t[2] as string).length));
  },
};
const MUTATION_NAMES = Object.keys(MUTATIONS);

interface Case {
  n: number;
  base: string;
  mutations: string[];
  input: Buffer;
  write: string[];
}

const BASES = { 'q10.xml': fs.readFileSync(vector('qubes-xml/q10.xml')), 'q100.xml': fs.readFileSync(vector('qubes-xml/q100.xml')) };

function makeCase(n: number): Case {
  const r = rng(SEED * 1000003 + n);
  const base = r.chance(0.9) ? 'q10.xml' : 'q100.xml';
  let input: Buffer = BASES[base];
  const mutations: string[] = [];
  for (let k = 1 + r.int(3); k > 0; k--) {
    const m = r.pick(MUTATION_NAMES);
    mutations.push(m);
    input = (MUTATIONS[m] as (b: Buffer, r: Rng) => Buffer)(input, r);
  }
  const value = String(1 + r.int(100000));
  const write = r.pick([
    ['qvm-prefs', 'vm0001', 'memory', value],
    ['qvm-features', 'dom0', 'x-fuzz', value],
    ['qvm-tags', 'vm0002', 'add', `fuzz${value}`],
  ]);
  return { n, base, mutations, input, write };
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runBin(args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(path.join(ROOT, 'bin', args[0] as string), args.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), LIMIT_MS);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** What is wrong with one run (empty: nothing). */
function judge(what: string, r: Ran): string[] {
  const problems: string[] = [];
  if (r.signal) return [`${what}: killed by ${r.signal} after ${r.ms} ms (limit ${LIMIT_MS} ms)`];
  if (/^\s+at .*\(?.*:\d+:\d+\)?$/m.test(r.stderr) || /node:internal|Node\.js v\d/.test(r.stderr)) problems.push(`${what}: stack trace: ${r.stderr.slice(0, 300)}`);
  if (r.code !== 0) {
    const lines = r.stderr.split('\n');
    if (lines.length !== 2 || lines[1] !== '' || !/^\S+: error: \S/.test(lines[0] as string))
      problems.push(`${what}: exit ${r.code} without exactly one error line: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  }
  return problems;
}

const dirOf = (file: string) => path.dirname(file);

test(`fuzz: ${ONLY === undefined ? CASES : 1} mutated qubes.xml files through qvm-ls and a write`, async () => {
  console.log(`qubes.xml fuzz: seed ${SEED} (QUBES_FUZZ_SEED to change), ${CASES} cases`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-fuzz-'));
  const failures: string[] = [];
  const accepted: string[] = []; // stores written by an accepted write, for lxml
  const counts = { listed: 0, listRefused: 0, written: 0, writeRefused: 0 };
  const vmm = makeVmm(true, {});

  async function one(c: Case): Promise<void> {
    const dir = path.join(work, `case-${c.n}`);
    fs.mkdirSync(dir);
    const xml = path.join(dir, 'qubes.xml');
    fs.writeFileSync(xml, c.input);
    const env = { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', NO_COLOR: '1', QUBES_LOCK_TIMEOUT_MS: '5000' };
    const label = `case ${c.n} (${c.base}: ${c.mutations.join(', ')})`;
    const problems: string[] = [];

    const ls = await runBin(['qvm-ls'], env);
    problems.push(...judge('qvm-ls', ls));
    if (ls.code === 0) counts.listed++;
    else counts.listRefused++;
    if (!fs.readFileSync(xml).equals(c.input)) problems.push('qvm-ls changed the store');

    const w = await runBin(c.write, env);
    problems.push(...judge(c.write.join(' '), w));
    const after = fs.readFileSync(xml);
    if (w.code === 0) {
      counts.written++;
      try {
        loadQubesXml(after, xml, vmm, dir);
      } catch (e) {
        problems.push(`the written store does not load here: ${(e as Error).message}`);
      }
      accepted.push(xml);
    } else {
      counts.writeRefused++;
      if (!after.equals(c.input)) problems.push(`refused write (exit ${w.code}) changed the store`);
    }
    const left = fs.readdirSync(dir).filter((f) => f !== 'qubes.xml');
    if (left.length) problems.push(`left behind: ${left.join(', ')}`);
    if (problems.length) failures.push(`${label}: ${problems.join('; ')} [input kept in ${dir}]`);
    else if (w.code !== 0) fs.rmSync(dir, { recursive: true, force: true });
  }

  const cases = ONLY === undefined ? Array.from({ length: CASES }, (_, n) => n) : [ONLY];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) await one(makeCase(cases[next++] as number));
    }),
  );

  // Every store an accepted write produced parses with lxml too.
  for (const [file, err] of lxmlErrors(accepted)) failures.push(`lxml refuses the store written in ${dirOf(file)}: ${err}`);
  console.log(
    `qubes.xml fuzz: seed ${SEED}: qvm-ls listed ${counts.listed}, refused ${counts.listRefused}; ` +
      `writes accepted ${counts.written}, refused ${counts.writeRefused}`,
  );
  if (failures.length === 0) fs.rmSync(work, { recursive: true, force: true });
  expect(failures).toEqual([]);
  // The mutations must leave both outcomes common, or the test says little.
  expect(counts.written).toBeGreaterThan(cases.length / 20);
  expect(counts.writeRefused).toBeGreaterThan(cases.length / 4);
}, 900_000);
