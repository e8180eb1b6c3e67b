// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A checksum of a few hundred kilobytes, fast at process start-up: the
 * launcher checks every code cache file with it before V8 loads the file
 * (lib/launcher.ts). Fletcher's sums over 32-bit little-endian words in
 * blocks of 8 (`a` adds each word, `b` adds `a` after each block), then the
 * bytes left over one at a time; 16 hex digits.
 *
 * Why WebAssembly: the same loop in JavaScript runs in V8's interpreter at
 * start-up and then gets compiled on the fly, ~15 million instructions for
 * a 280 KB cache, a quarter of what a small listing costs above `node -e 0`
 * (bench/RESULTS.md). As a 100-byte WebAssembly module (made by hand below:
 * compiled at once by V8's baseline compiler, no module to load) it costs
 * ~3 million. Where WebAssembly is unavailable (`--jitless`, a small
 * address-space limit) the JavaScript loop gives the same sums.
 */

/** `a` and `b` after the whole blocks of `words` (length a multiple of 8), in JavaScript. */
function blockSumsJs(words: Int32Array): [number, number] {
  let a = 0;
  let b = 0;
  for (let i = 0; i < words.length; i += 8) {
    a = (a + (words[i] as number) + (words[i + 1] as number) + (words[i + 2] as number) + (words[i + 3] as number)) | 0;
    a = (a + (words[i + 4] as number) + (words[i + 5] as number) + (words[i + 6] as number) + (words[i + 7] as number)) | 0;
    b = (b + a) | 0;
  }
  return [a, b];
}

/**
 * The WebAssembly module: one function `f(start, end)` over its memory
 * `m`, returning `a` and leaving `b` in the global `b`. In text form:
 *
 *   (func (export "f") (param $p i32) (param $end i32) (result i32) (local $a i32) (local $b i32)
 *     (if (i32.lt_u (local.get $p) (local.get $end)) (then (loop
 *       (local.set $a (i32.add ... (i32.add (local.get $a) (i32.load offset=0 (local.get $p))) ... offset=28))
 *       (local.set $b (i32.add (local.get $b) (local.get $a)))
 *       (br_if 0 (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 32))) (local.get $end))))))
 *     (global.set $b (local.get $b))
 *     (local.get $a))
 *
 * (i32 additions wrap, so the order of the words within a block does not matter.)
 */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const [LOCAL_GET, LOCAL_SET, LOCAL_TEE, GLOBAL_SET] = [0x20, 0x21, 0x22, 0x24];
  const [I32_LOAD, I32_CONST, I32_ADD, I32_LT_U] = [0x28, 0x41, 0x6a, 0x49];
  const [IF, LOOP, BR_IF, END, VOID] = [0x04, 0x03, 0x0d, 0x0b, 0x40];
  const [P, END_ARG, A, B] = [0, 1, 2, 3];
  const addWord = (offset: number) => [LOCAL_GET, P, I32_LOAD, 2 /* align 4 */, offset, I32_ADD];
  const body = [
    1, 2, I32, // locals: 2 x i32 ($a, $b)
    LOCAL_GET, P, LOCAL_GET, END_ARG, I32_LT_U, IF, VOID, LOOP, VOID,
    LOCAL_GET, A, ...[0, 4, 8, 12, 16, 20, 24, 28].flatMap(addWord), LOCAL_SET, A,
    LOCAL_GET, B, LOCAL_GET, A, I32_ADD, LOCAL_SET, B,
    LOCAL_GET, P, I32_CONST, 32, I32_ADD, LOCAL_TEE, P, LOCAL_GET, END_ARG, I32_LT_U, BR_IF, 0,
    END, END,
    LOCAL_GET, B, GLOBAL_SET, 0, LOCAL_GET, A, END,
  ];
  // every section is shorter than 128 bytes: its length is one LEB128 byte
  const section = (id: number, bytes: number[]) => [id, bytes.length, ...bytes];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // "\0asm", version 1
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]), // types: (i32, i32) -> i32
    ...section(3, [1, 0]), // functions: one, of type 0
    ...section(5, [1, 0, 1]), // memory: one, at least 1 page
    ...section(6, [1, I32, 1, I32_CONST, 0, END]), // globals: a mutable i32, 0
    ...section(7, [3, ...name('f'), 0, 0, ...name('m'), 2, 0, ...name('b'), 3, 0]), // exports
    ...section(10, [1, body.length, ...body]), // code
  ]);
}

interface BlockSumsModule {
  f: (start: number, end: number) => number;
  m: WebAssembly.Memory;
  b: WebAssembly.Global;
}

/** `a` and `b` after the whole blocks of `bytes` (length a multiple of 32), in WebAssembly; undefined where it cannot run. */
function blockSumsWasm(bytes: Uint8Array): [number, number] | undefined {
  try {
    const { f, m, b } = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes())).exports as unknown as BlockSumsModule;
    const pages = Math.ceil(bytes.length / 65536);
    if (pages > 1) m.grow(pages - 1);
    new Uint8Array(m.buffer).set(bytes);
    const a = f(0, bytes.length);
    return [a | 0, (b.value as number) | 0];
  } catch {
    return undefined;
  }
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

/** The checksum of `data`; `portable` computes it in JavaScript only (the tests compare both ways). */
export function blockChecksum(data: Uint8Array, portable = false): string {
  const whole = (data.length >>> 5) << 5;
  let sums = portable ? undefined : blockSumsWasm(data.subarray(0, whole));
  if (sums === undefined) {
    if ((data.byteOffset & 3) !== 0) data = new Uint8Array(data); // Int32Array needs aligned memory
    sums = blockSumsJs(new Int32Array(data.buffer, data.byteOffset, whole >>> 2));
  }
  let [a, b] = sums;
  for (let i = whole; i < data.length; i++) {
    a = (a + (data[i] as number)) | 0;
    b = (b + a) | 0;
  }
  return `${hex8(a)}${hex8(b)}`;
}
