import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, run, tmpStore } from '../helpers.js';

describe('store locking', () => {
  test('8 processes each making 10 distinct feature writes at once: all 80 land', async () => {
    const s = tmpStore('qubes-xml/q100.xml');
    const bin = path.join(ROOT, 'bin', 'qvm-features');
    const workers = Array.from({ length: 8 }, (_, w) =>
      new Promise<number>((resolve) => {
        const script = `for i in $(seq 0 9); do "${bin}" vm0001 "x-w${w}-$i" "v$i" || exit 1; done`;
        spawn('bash', ['-c', script], { env: s.env, stdio: 'inherit' }).on('close', (c) => resolve(c ?? -1));
      }),
    );
    expect(await Promise.all(workers)).toEqual(new Array(8).fill(0));
    const listed = run('qvm-features', ['vm0001'], s.env).stdout;
    const features = new Map(listed.trim().split("\n").map((l) => l.split(/\s+/) as [string, string]));
    for (let w = 0; w < 8; w++) for (let i = 0; i < 10; i++) expect(features.get(`x-w${w}-${i}`)).toBe(`v${i}`);
    expect(features.size).toBe(81);
  });
});
