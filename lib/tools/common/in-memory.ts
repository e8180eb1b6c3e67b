// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Running a command without a process (admin-client's `main(args, app)`):
 * the same parsing, Session and error mapping as `bin/NAME`, with the
 * environment and standard input given and the output collected. Tests
 * use it where the process itself is not what is tested (signals, exit
 * statuses of the binary, a closed pipe, start-up and locking between
 * processes stay process tests); a daemon can serve a request with it.
 */
import stream from 'node:stream';
import type { Env } from '../../config.js';
import type { Session } from '../../ops/session.js';
import type { Vmm } from '../../vmm/vmm.js';
import { loadModule } from '../registry.js';
import { commandAs, runTool, type CommandModule, type Io } from './program.js';
const { Readable, Writable } = stream;

export interface InMemoryOptions {
  env: Env;
  /** Standard input (default: empty). */
  input?: string | Buffer;
  /** Whether standard output is a terminal (default: no). */
  isTTY?: boolean;
  /** The working directory (default: the root). */
  cwd?: string;
  /** The path the command is run as (default: its name; qvm-device behaves by it). */
  program?: string;
  /** The session's hypervisor (default: from the environment). */
  vmm?: (offline: boolean, env: Env) => Vmm;
  /** Hears the session once made (what the command's steps shared). */
  onSession?: (session: Session) => void;
}

export interface InMemoryResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Standard output as bytes (a command may write binary data). */
  stdoutBytes: Buffer;
}

/** Run command `name` with `args` (without the program name); resolves when it is done. */
export async function runInMemory(name: string, args: string[], o: InMemoryOptions): Promise<InMemoryResult> {
  const out: Buffer[] = [];
  let stderr = '';
  const input = Buffer.from(o.input ?? '');
  let lineAt = 0;
  const stdout = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      out.push(Buffer.from(chunk));
      done();
    },
  });
  const io: Io = {
    out: (s) => void out.push(Buffer.from(s)),
    err: (s) => void (stderr += s),
    stdoutIsTTY: () => o.isTTY ?? false,
    env: o.env,
    stdout: () => stdout,
    stdin: () => Readable.from([input]),
    stderrIsTTY: () => false,
    stdinIsTTY: () => false,
    readLine: () => {
      // as a terminal line: up to the newline, which is consumed; at the end what is left
      const end = input.indexOf(0x0a, lineAt);
      const line = input.subarray(lineAt, end < 0 ? input.length : end).toString('utf8');
      lineAt = end < 0 ? input.length : end + 1;
      return line;
    },
    cwd: o.cwd ?? '/',
    program: o.program ?? name,
    vmm: o.vmm,
    onSession: o.onSession,
  };
  const { spec, run } = commandAs((await loadModule(name)) as unknown as CommandModule<unknown>, io.program);
  const code = await runTool(spec, args, run, io);
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes };
}
