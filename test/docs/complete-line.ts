// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The generated bash completion driven as bash drives it: the command's
 * completion function run in a real bash on one command line.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers.js';

export const COMPLETION = path.join(ROOT, 'completions', 'qubes-tools.bash');

/** A word quoted for bash. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Complete `line` as if TAB were pressed at its end (a trailing space means
 * an empty current word), with `env` (the store's). Returns COMPREPLY.
 */
export function completeLine(line: string, env: NodeJS.ProcessEnv): string[] {
  // bash splits words at COMP_WORDBREAKS too: `--label=r` is `--label` `=` `r`
  const words = line.split(/ +/).flatMap((w) => (/^[^=]+=/.test(w) ? [w.slice(0, w.indexOf('=')), '=', w.slice(w.indexOf('=') + 1)] : [w]));
  const cword = words.length - 1;
  const cmd = words[0] as string;
  const script = [
    `source ${q(COMPLETION)} || exit 90`,
    `spec=$(complete -p ${q(cmd)}) || exit 91`,
    `fn=$(sed -n 's/.*-F \\([^ ]*\\) .*/\\1/p' <<<"$spec")`,
    `[ -n "$fn" ] || exit 92`,
    `COMP_WORDS=(${words.map(q).join(' ')})`,
    `COMP_CWORD=${cword}`,
    `COMP_LINE=${q(line)}`,
    `COMP_POINT=${line.length}`,
    `COMPREPLY=()`,
    `"$fn" ${q(cmd)} ${q(words[cword] as string)} ${q(cword > 0 ? (words[cword - 1] as string) : '')}`,
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash exited ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}
