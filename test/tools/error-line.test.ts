import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorLine } from '../../lib/tools/common/errors.js';
import { QubesValueError } from '../../lib/errors.js';

/** The error a real system call gives. */
function systemError(call: () => void): Error {
  try {
    call();
  } catch (e) {
    return e as Error;
  }
  throw new Error('the call did not fail');
}

describe('errorLine: the one line a user sees', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'error-line-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['rmdir of a plain file', () => fs.writeFileSync(path.join(dir, 'f'), ''), () => fs.rmdirSync(path.join(dir, 'f')), `not a directory: ${dir}/f`],
    ['mkdir over /dev/full', () => {}, () => fs.mkdirSync('/dev/full'), 'file exists: /dev/full'],
    ['a rename onto a non-empty directory', () => (fs.mkdirSync(path.join(dir, 'a')), fs.mkdirSync(path.join(dir, 'b/c'), { recursive: true })), () => fs.renameSync(path.join(dir, 'a'), path.join(dir, 'b')), `directory not empty: ${dir}/a -> ${dir}/b`],
    ['a symlink loop', () => fs.symlinkSync('loop', path.join(dir, 'loop')), () => fs.statSync(path.join(dir, 'loop')), `too many levels of symbolic links: ${dir}/loop`],
    ['an errno without a wording of ours (EBADF, no path)', () => {}, () => fs.closeSync(999999), 'bad file descriptor'],
  ])('a system error (%s) in plain words with its path, no errno code', (_what, setup, call, words) => {
    setup();
    const e = systemError(call);
    expect((e as NodeJS.ErrnoException).code).toMatch(/^E[A-Z]+$/); // what Node gave
    expect(errorLine('qvm-x', e, 0)).toBe(`qvm-x: error: ${words}`);
  });

  test('control characters of a message are shown escaped, so it stays one line', () => {
    expect(errorLine('qvm-x', new QubesValueError("bad 'a\nb\u0001\u001b[31m\u009b'"), 0)).toBe("qvm-x: error: bad 'a\\nb\\x01\\x1b[31m\\x9b'");
  });
});
