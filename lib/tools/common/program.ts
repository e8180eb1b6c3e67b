// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Running a command: build the commander program from its spec, parse,
 * give the body a context (its Session: the environment, the standard
 * streams, the store, the hypervisor, offline mode), and turn whatever it
 * throws into one line on stderr and an exit code. This module and the
 * launcher are the only ones that read the process's environment and
 * streams (test/lint/process-globals.test.ts); runTool takes them as
 * arguments, so a command can also run in memory (in-memory.ts).
 *
 * commander exits 1 on usage errors and prints its own text; here usage
 * errors print `PROG: error: MESSAGE` and exit 2 as the reference's
 * argparse does. Help (`-h`) goes to stdout with exit 0.
 */
import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { Env } from '../../config.js';
import type { Store } from '../../app/store.js';
import { Session, type InputStream, type SessionOptions } from '../../ops/session.js';
import { VERSION } from '../../version.js';
import { ioReason } from '../../util/io-error.js';
import { errorLine, exitCodeFor, UsageError } from './errors.js';
import { readFd0Line } from './stdin-line.js';
import { allSpecOptions, COMMON_OPTIONS, findSubcommand, subcommandWords, type ArgSpec, type CommandSpec, type OptionSpec } from './spec.js';

/** What a command runs with from outside: its environment and standard streams. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether standard output is a terminal (a question: the process's stdout stream is made on first use). */
  stdoutIsTTY: () => boolean;
  env: Env;
  /** Standard output as a stream, for binary data; asked only by commands that write such (process.stdout is made on first use). */
  stdout?: () => NodeJS.WritableStream;
  /** Standard input, asked only by commands that read it (process.stdin is made on first use, and may load net). */
  stdin?: () => InputStream;
  stderrIsTTY?: () => boolean;
  stdinIsTTY?: () => boolean;
  /** One line of standard input, read synchronously (default: end of input at once). */
  readLine?: () => string;
  /** The working directory (default: the root, so that nothing relative is taken from a caller's). */
  cwd?: string;
  /** The path the command was run as. */
  program?: string;
  /** Set once standard output can no longer be written: the command's exit status (already reported). */
  stdoutEnded?: () => number | undefined;
  /** The hypervisor the session makes (tests); default libvirt or offline, from the environment. */
  vmm?: SessionOptions['vmm'];
  /** Given the session once it is made (tests look at what the command's steps shared). */
  onSession?: (session: Session) => void;
}

export interface Context {
  prog: string;
  verbose: number;
  offline: boolean;
  /** The command's environment (the session's). */
  env: Env;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether standard output is a terminal. */
  stdoutIsTTY: () => boolean;
  /** The store, opened lazily (nothing is read until asked). */
  store(): Store;
  /** Everything else the command works with, made once for it. */
  session: Session;
}

export type Body<O> = (opts: O, args: string[], ctx: Context) => Promise<number | void> | number | void;

/** A command: its spec and body. */
export interface CommandEntry<O> {
  spec: CommandSpec;
  run: Body<O>;
}

/** A command's module (lib/tools/NAME.ts): may take another form when run under another name (qvm-device as qvm-CLASS). */
export interface CommandModule<O> extends CommandEntry<O> {
  forProgram?: (program: string | undefined) => CommandEntry<O> | undefined;
}

/** The command a module is when run as `program`. */
export const commandAs = <O>(mod: CommandModule<O>, program: string | undefined): CommandEntry<O> => mod.forProgram?.(program) ?? mod;

const increase = (_v: string, prev: number) => prev + 1;
const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function addOption(cmd: Command, o: OptionSpec): void {
  const opt = new Option(o.flags, o.description);
  if (o.hidden) opt.hideHelp();
  if (o.choices) opt.choices(o.choices as string[]);
  if (o.count) opt.argParser(increase).default(0);
  else if (o.repeatable) opt.argParser(collect);
  cmd.addOption(opt);
}

/** The commander program for a spec; no side effects. */
function buildCommand(spec: CommandSpec): Command {
  const cmd = new Command(spec.name).description(spec.summary).helpOption('-h, --help', 'show this help message and exit');
  for (const a of spec.args) {
    const n = `${a.name}${a.variadic ? '...' : ''}`;
    cmd.argument(a.optional || a.variadic ? `[${n}]` : `<${n}>`, a.description);
  }
  if (spec.subcommands) {
    cmd.argument('[COMMAND]', `one of: ${spec.subcommands.map((s) => s.name).join(', ')}`);
    cmd.argument('[ARGS...]', 'arguments of the command');
    cmd.addHelpText('after', subcommandHelp(spec));
  }
  for (const o of [...allSpecOptions(spec), ...COMMON_OPTIONS]) {
    if (o.version) cmd.version(`${spec.name} (qubes-dom0-tools) ${VERSION}`, o.flags, o.description);
    else addOption(cmd, o);
  }
  cmd.allowExcessArguments(false);
  return cmd;
}

/** The help text's list of subcommands with their own arguments and options. */
function subcommandHelp(spec: CommandSpec): string {
  const lines = ['', 'Commands:'];
  for (const s of spec.subcommands ?? []) {
    const names = [s.name, ...(s.aliases ?? [])].join(', ');
    const words = [...s.options.map((o) => `[${o.flags.split(/,\s*/).pop()}]`), ...s.args.map(argWord)];
    lines.push(`  ${names}${s.name === spec.defaultSubcommand ? ' (default)' : ''}: ${s.summary}`);
    if (words.length) lines.push(`      ${s.name} ${words.join(' ')}`);
  }
  return lines.join('\n');
}

const argWord = (a: ArgSpec): string => {
  const n = `${a.name}${a.variadic ? '...' : ''}`;
  return a.optional || a.variadic ? `[${n}]` : n;
};

/**
 * Pick the subcommand from the parsed positionals, refuse options and
 * positionals it does not take, and return the positionals with the
 * subcommand word in its canonical spelling (the default one inserted).
 */
function resolveSubcommand(spec: CommandSpec, cmd: Command, args: string[]): string[] {
  const lead = spec.args.length;
  const word = args[lead];
  const sub = word === undefined ? findSubcommand(spec, spec.defaultSubcommand ?? '') : findSubcommand(spec, word);
  if (!sub) {
    const choices = subcommandWords(spec).join(', ');
    if (word === undefined) throw new UsageError(`the following arguments are required: COMMAND (choose from ${choices})`);
    throw new UsageError(`argument COMMAND: invalid choice: '${word}' (choose from ${choices})`);
  }
  const own = new Set([...spec.options, ...sub.options, ...COMMON_OPTIONS].map((o) => o.flags));
  for (const o of cmd.options) {
    if (cmd.getOptionValueSource(o.attributeName()) !== 'cli') continue;
    if (!own.has(o.flags)) throw new UsageError(`option ${o.long ?? o.short} is not valid with '${sub.name}'`);
  }
  const rest = args.slice(lead + 1);
  const required = sub.args.filter((a) => !a.optional && !a.variadic);
  if (rest.length < required.length)
    throw new UsageError(`the following arguments are required: ${required.slice(rest.length).map((a) => a.name).join(', ')}`);
  if (!sub.args.some((a) => a.variadic) && rest.length > sub.args.length)
    throw new UsageError(`unrecognized arguments: ${rest.slice(sub.args.length).join(' ')}`);
  return [...args.slice(0, lead), sub.name, ...rest];
}

/**
 * The parsed options, where a lone `--no-X` flag (the reference's
 * `store_true` options such as `--no-resize`) is `noX: true` when given,
 * not commander's negation `X: false` with a default of true.
 */
function plainNegatives(cmd: Command): Record<string, unknown> {
  const opts = { ...cmd.opts() };
  for (const o of cmd.options) {
    const key = o.attributeName();
    if (!o.negate || cmd.options.some((p) => !p.negate && p.attributeName() === key)) continue;
    const given = cmd.getOptionValueSource(key) === 'cli';
    delete opts[key];
    if (given) opts[o.name().replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] = true;
  }
  return opts;
}

/** Whether an option selecting the legacy (option-driven) form was given. */
function legacyForm(spec: CommandSpec, cmd: Command): boolean {
  const legacy = new Set(spec.options.filter((o) => o.legacy).map((o) => o.flags));
  return cmd.options.some((o) => legacy.has(o.flags) && cmd.getOptionValueSource(o.attributeName()) === 'cli');
}

/*
 * argparse reads a word like `-1` as a (negative number) positional when
 * the parser has no option that looks like a number; commander takes it
 * for an unknown option. Such words travel through commander disguised.
 */
const NEGATIVE = /^-\d+$/;
const DISGUISE = '\u0000';
const disguise = (argv: string[]) => argv.map((a) => (NEGATIVE.test(a) ? DISGUISE + a : a));
const undisguise = <T>(v: T): T =>
  (typeof v === 'string' && v.startsWith(DISGUISE) ? v.slice(1) : Array.isArray(v) ? v.map(undisguise) : v) as T;

/**
 * Exit status of a command whose standard output was closed by its reader
 * (`qvm-ls | head -1`): 128 + SIGPIPE, what a shell reports for `ls` or
 * `cat` in the same place, so `set -o pipefail` scripts see the same thing.
 */
export const CLOSED_STDOUT_EXIT = 141;

/** Thrown by `out` once standard output failed: unwinds the command (releasing its locks) to its exit. */
class StdoutGoneError extends Error {
  override name = 'StdoutGoneError';
}

/**
 * The process's streams, with the one rule for a standard output that can
 * no longer be written: a closed pipe (EPIPE) ends the command quietly with
 * CLOSED_STDOUT_EXIT; any other failure (ENOSPC on `> /dev/full`) is said
 * in one line and ends it with 1. This holds for every command and
 * whatever writes to stdout (the table printer, a backup streamed to `-`).
 *
 * Text goes to descriptor 1 with fs.writeSync, not through process.stdout:
 * making that stream loads Node's stream modules (and net or tty), ~13
 * million instructions, a seventh of `node -e 0` (bench/RESULTS.md), which
 * a listing does not need. Node writes its standard output synchronously
 * anyway when it is a file, a pipe or a terminal (on Linux), so nothing
 * changes but the cost. The stream is made only when a command asks for it
 * (binary data, whether stdout is a terminal), or when the descriptor is
 * non-blocking and full (EAGAIN: a parent's non-blocking pipe); from then
 * on all output goes through it, in order.
 */
function processIo(prog: string): Io {
  let endCode: number | undefined;
  // process.stderr is a stream made on first use (~5 ms at start-up, bench/RESULTS.md): most runs write nothing to it.
  let stderr: NodeJS.WriteStream | undefined;
  const errStream = (): NodeJS.WriteStream => {
    if (stderr === undefined) {
      stderr = process.stderr;
      // Nothing can be said about a closed standard error; it must not crash the command either.
      stderr.on('error', () => {});
    }
    return stderr;
  };
  /** Standard output failed: remember the status to exit with and say why (the stream's 'error' may come after the command returned). */
  const failed = (e: NodeJS.ErrnoException): void => {
    if (endCode !== undefined) return;
    if (e.code === 'EPIPE') {
      endCode = CLOSED_STDOUT_EXIT;
    } else {
      endCode = 1;
      errStream().write(`${errorLine(prog, new StdoutGoneError(`cannot write to standard output: ${ioReason(e)}`), 0)}\n`);
    }
    process.exitCode = endCode;
  };
  let stdout: NodeJS.WriteStream | undefined;
  const stdoutStream = (): NodeJS.WriteStream => {
    if (stdout === undefined) {
      stdout = process.stdout;
      stdout.on('error', failed);
    }
    return stdout;
  };
  return {
    out: (s) => {
      if (endCode !== undefined) throw new StdoutGoneError('standard output gone');
      if (stdout !== undefined) {
        stdout.write(s);
        return;
      }
      const bytes = Buffer.from(s, 'utf8');
      for (let done = 0; done < bytes.length; ) {
        try {
          done += fs.writeSync(1, bytes, done);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'EAGAIN') {
            stdoutStream().write(bytes.subarray(done));
            return;
          }
          failed(err);
          throw new StdoutGoneError('standard output gone');
        }
      }
    },
    err: (s) => errStream().write(s),
    stdoutIsTTY: () => Boolean(stdoutStream().isTTY),
    env: process.env,
    stdout: stdoutStream,
    stdin: () => process.stdin,
    stderrIsTTY: () => Boolean(errStream().isTTY),
    stdinIsTTY: () => Boolean(process.stdin.isTTY),
    readLine: readFd0Line,
    cwd: process.cwd(),
    program: process.argv[1],
    stdoutEnded: () => endCode,
  };
}

/** The session of one command run with `io`. */
function sessionFor(prog: string, io: Io, verbose: number, offlineFlag: boolean | undefined): Session {
  return new Session({
    env: io.env,
    prog,
    verbose,
    offlineFlag,
    vmm: io.vmm,
    streams: {
      out: io.out,
      err: io.err,
      stdout: io.stdout ?? missing('standard output stream'),
      stdin: io.stdin ?? missing('standard input'),
      stdoutIsTTY: io.stdoutIsTTY,
      stderrIsTTY: io.stderrIsTTY ?? (() => false),
      stdinIsTTY: io.stdinIsTTY ?? (() => false),
      readLine: io.readLine ?? (() => ''),
      cwd: io.cwd ?? '/',
      program: io.program,
    },
  });
}

/** For an Io made without a stream (a test of parsing only): asking for it is the caller's mistake. */
const missing = (what: string) => (): never => {
  throw new Error(`this run of the command was given no ${what}`);
};

/**
 * Parse `argv` (without node and script), run `body`, return the exit code.
 */
export async function runTool<O>(spec: CommandSpec, argv: string[], body: Body<O>, io: Io = processIo(spec.name)): Promise<number> {
  const cmd = buildCommand(spec);
  let helpShown = false;
  cmd.exitOverride();
  cmd.configureOutput({
    writeOut: (s) => {
      helpShown = true;
      io.out(s);
    },
    writeErr: () => {},
    outputError: () => {},
  });
  let verbose = 0;
  try {
    try {
      cmd.parse(disguise(argv), { from: 'user' });
    } catch (e) {
      if (e instanceof CommanderError) {
        if (helpShown || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
        throw new UsageError(e.message.replace(/^error: /, ''));
      }
      throw e;
    }
    const opts = Object.fromEntries(Object.entries(plainNegatives(cmd)).map(([k, v]) => [k, undisguise(v)])) as O & {
      verbose: number;
      quiet: number;
      offlineMode?: boolean;
    };
    let args = cmd.args.map(undisguise);
    if (spec.subcommands && !legacyForm(spec, cmd)) args = resolveSubcommand(spec, cmd, args);
    verbose = opts.verbose - opts.quiet;
    const session = sessionFor(spec.name, io, verbose, opts.offlineMode);
    io.onSession?.(session);
    const ctx: Context = {
      prog: spec.name,
      verbose,
      offline: session.offline,
      env: session.env,
      out: io.out,
      err: io.err,
      stdoutIsTTY: io.stdoutIsTTY,
      store: () => session.store(),
      session,
    };
    const code = await body(opts, args, ctx);
    const ended = io.stdoutEnded?.();
    if (ended !== undefined) return ended;
    if (verbose > 0) for (const w of session.openedStore?.warnings ?? []) io.err(`${spec.name}: warning: ${w}\n`);
    return code ?? 0;
  } catch (e) {
    // Whatever the body made of the failed write, it was reported already.
    const ended = io.stdoutEnded?.();
    if (ended !== undefined) return ended;
    const code = exitCodeFor(e);
    if (!(e instanceof Error && e.name === 'SilentExit')) io.err(errorLine(spec.name, e, verbose) + '\n');
    return code;
  }
}

/**
 * Handles that stay open with no work in them: the standard streams (pipe,
 * terminal or socket) and signal watchers. Writes in flight, timers, child
 * processes and file operations are resources of other types.
 */
const IDLE_HANDLES = new Set(['PipeWrap', 'TTYWrap', 'TCPWrap', 'SignalWrap']);

/**
 * Entry point of the command bundles. Once the command's body is done and
 * nothing but idle handles is left, the process ends at once: Node would
 * otherwise first let V8 finish the garbage collections and compilations
 * it has under way, 10-50 ms after listing 1000 qubes (bench/RESULTS.md).
 * A body awaits the work it starts (a daemon's body runs until it is
 * stopped); what it does not await is its output: standard output into a
 * pipe that its reader empties slowly is written in the background, and
 * then the process ends as Node ends it, once everything is written. The
 * exit comes after the callbacks already queued (a standard output error
 * still sets the status) and runs the 'exit' handlers (the code cache).
 * @public the entry of every command bundle: scripts/bundle.mjs names it in
 * generated source, which knip cannot follow.
 */
export async function main<O>(mod: CommandModule<O>): Promise<void> {
  const { spec, run } = commandAs(mod, process.argv[1]);
  process.exitCode = await runTool(spec, process.argv.slice(2), run);
  setImmediate(() => {
    if (process.getActiveResourcesInfo().every((r) => IDLE_HANDLES.has(r))) process.exit();
  });
}
