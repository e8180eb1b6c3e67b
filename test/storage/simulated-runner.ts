/**
 * The base of the simulated programs the storage tests drive drivers
 * against (FakeLvm, FakeZfs): every call recorded with its environment,
 * scripted answers for chosen calls, and the simulation (`act`) for the
 * rest.
 */
import type { CommandResult, CommandRunner, RunOptions } from '../../lib/storage/command-runner.js';

export interface Call {
  argv: string[];
  env?: Record<string, string>;
}

/** A scripted answer: fixed, or made from what the simulation did (`real` runs the command). */
export type Answer = CommandResult | ((real: () => CommandResult) => CommandResult);

export abstract class SimulatedRunner implements CommandRunner {
  readonly calls: Call[] = [];
  private readonly scripted: { match: (argv: readonly string[]) => boolean; answer: Answer }[] = [];

  /** Answer the next command matching `match` with `answer` (a fixed result does not act). */
  script(match: (argv: readonly string[]) => boolean, answer: Answer): void {
    this.scripted.push({ match, answer });
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ argv: [...argv], env: options.env });
    await Promise.resolve(); // let concurrent callers interleave, as real processes would
    const i = this.scripted.findIndex((s) => s.match(argv));
    const answer = i >= 0 ? this.scripted.splice(i, 1)[0]!.answer : undefined;
    if (answer === undefined) return this.act(argv);
    return typeof answer === 'function' ? answer(() => this.act(argv)) : answer;
  }

  /** What the simulated program does with `argv`. */
  protected abstract act(argv: readonly string[]): CommandResult;
}

/**
 * Pin the uid the drivers ask (asRoot, on every command) to 0 for each
 * test of the file; the returned setter makes a test run as another uid.
 */
export function pinUid(): (uid: number) => void {
  const real = process.getuid;
  const set = (uid: number) => {
    process.getuid = () => uid;
  };
  beforeEach(() => set(0));
  afterEach(() => {
    process.getuid = real;
  });
  return set;
}
