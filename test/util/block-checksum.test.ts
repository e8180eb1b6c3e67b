// The checksum the launcher puts in every code cache file (lib/launcher.ts):
// the WebAssembly loop and the JavaScript one give the same sums, and the
// same as the launcher's sums before the WebAssembly loop (the figures
// below), so caches written before stay valid.
import { spawnSync } from 'node:child_process';
import { blockChecksum } from '../../lib/util/block-checksum.js';
import { ROOT } from '../helpers.js';

/** Bytes that differ from word to word and from block to block. */
const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + (i >> 8) * 7 + 3) & 255);

// Made by the launcher's JavaScript checksum of commit d7de7a8.
const KNOWN: [number, string][] = [
  [0, '0000000000000000'],
  [5, '0000012d00000369'],
  [32, 'b19d8168b19d8168'],
  [1000, 'a2bcd68464fefb9c'],
  [70000, 'e3dbb9a8534045e8'], // more than one page of WebAssembly memory
  [200003, 'b8c67923a3eb7620'],
];

test.each(KNOWN)('%d bytes: the sums of the earlier launcher, both ways', (n, sum) => {
  expect(blockChecksum(pattern(n))).toBe(sum);
  expect(blockChecksum(pattern(n), true)).toBe(sum);
});

test('both ways agree at any length and alignment, and a changed byte changes the sum', () => {
  const data = pattern(4099);
  for (let start = 0; start < 8; start++)
    for (const end of [start, start + 31, start + 32, start + 33, 1024, 4099]) {
      const part = data.subarray(start, end);
      expect({ start, end, sum: blockChecksum(part) }).toEqual({ start, end, sum: blockChecksum(part, true) });
    }
  const changed = pattern(4099);
  changed[2049] = (changed[2049] as number) ^ 1;
  expect(blockChecksum(changed)).not.toBe(blockChecksum(data));
});

test('without WebAssembly (node --no-expose-wasm) the sums are the same', () => {
  const script = `import('${ROOT}/dist/lib/util/block-checksum.js').then((m) => {
    const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + (i >> 8) * 7 + 3) & 255);
    console.log(typeof WebAssembly, m.blockChecksum(pattern(200003)));
  })`;
  const r = spawnSync(process.execPath, ['--no-expose-wasm', '-e', script], { encoding: 'utf8' });
  expect({ stdout: r.stdout, stderr: r.stderr }).toEqual({ stdout: 'undefined b8c67923a3eb7620\n', stderr: '' });
});
