// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The one way storage drivers run external programs (lvm, blkdiscard,
 * losetup, dmsetup, the dm helper scripts, cp): an argv list, never a
 * shell. Tests record what a driver issues by putting recording programs
 * first on PATH (test/storage/fake-bin) or by passing their own runner.
 */
import fs from 'node:fs';
import type { Env } from '../config.js';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Killed because RunOptions.signal was aborted. */
  cancelled?: boolean;
}

export interface RunOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Data for standard input; default: none (/dev/null). */
  input?: string;
  /** Kills the program when aborted (the run then reports `cancelled`). */
  signal?: AbortSignal;
}

export interface CommandRunner {
  /** Run argv[0] with the rest as arguments; never throws for a non-zero exit. */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/**
 * The runner of real commands in a command's environment `env` (its PATH
 * finds the programs; they run with it as their whole environment, as
 * they would from that command's process). execa is loaded on first use:
 * most commands never run a program.
 */
export function commandRunner(env: Env): CommandRunner {
  return { run: (argv, options) => runWith(env, argv, options) };
}

async function runWith(env: Env, argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const { execa } = await import('execa');
  const [file, ...args] = argv as [string, ...string[]];
  const r = await execa(file, args, {
    reject: false,
    env: { ...env, ...options.env },
    extendEnv: false,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    stripFinalNewline: false,
    cwd: '/',
    cancelSignal: options.signal,
  });
  if (r.isCanceled) return { exitCode: r.exitCode ?? 1, stdout: '', stderr: '', cancelled: true };
  if (r.failed && r.exitCode === undefined) {
    // could not run at all (not installed, not executable): one line
    const why = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'command not found' : (r.shortMessage ?? 'cannot run').split('\n')[0];
    return { exitCode: 127, stdout: '', stderr: `${file}: ${why}` };
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Prefix with sudo when not root (the reference's rule for lvm and cryptsetup). */
export const asRoot = (argv: readonly string[]): string[] => (process.getuid?.() === 0 ? [...argv] : ['sudo', ...argv]);

/**
 * `argv` as it is when this process may read `from` and write `to`, else
 * through sudo (whole-volume copies with dd, whose files are often root's
 * device nodes).
 */
export function sudoUnlessAccessible(argv: readonly string[], from: string, to: string): string[] {
  const can = (file: string, mode: number) => {
    try {
      fs.accessSync(file, mode);
      return true;
    } catch {
      return false;
    }
  };
  return can(to, fs.constants.W_OK) && can(from, fs.constants.R_OK) ? [...argv] : ['sudo', ...argv];
}

/**
 * For drivers that keep a report of the state their programs change (lvm,
 * zfs): run a change, then read the report again, also after a failure
 * (part of it may have happened). The change's failure is the one thrown.
 */
export async function changeThenReload(change: () => Promise<unknown>, reload: () => Promise<void>): Promise<void> {
  let failure: unknown;
  try {
    await change();
  } catch (e) {
    failure = e;
  }
  try {
    await reload();
  } catch (e) {
    failure ??= e;
  }
  if (failure !== undefined) throw failure;
}
