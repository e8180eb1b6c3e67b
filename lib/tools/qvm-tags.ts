// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-tags: list, add and remove a qube's tags.
 * Reference: qubesadmin/tools/qvm_tags.py; spec §6.2.
 */
import { addTag } from '../vm/admin-extension.js';
import { validateTag } from '../vm/tags.js';
import { SilentExit, UsageError } from './common/errors.js';
import { FORMAT_OPTION, refuseJson, wantsJson, writeJson, type FormatOpts } from './common/json-output.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVm } from './common/vm-args.js';

/** Command words and their aliases (reference parser). */
export const TAG_COMMANDS: Record<string, 'list' | 'add' | 'del'> = {
  list: 'list',
  ls: 'list',
  l: 'list',
  add: 'add',
  a: 'add',
  set: 'add',
  del: 'del',
  d: 'del',
  unset: 'del',
  u: 'del',
};

export const spec: CommandSpec = {
  name: 'qvm-tags',
  summary: "manage a qube's tags",
  args: [
    { name: 'VMNAME', description: 'qube to act on', kind: 'vm' },
    { name: 'COMMAND', description: 'list (ls, l; the default), add (a, set) or del (d, unset, u)', kind: 'tags-command', optional: true },
    { name: 'TAG', description: 'tag(s): one or more for add, exactly one for del, at most one for list', kind: 'tag', variadic: true },
  ],
  options: [FORMAT_OPTION],
};

export async function run(opts: FormatOpts, args: string[], ctx: Context): Promise<void> {
  const [vmname, word = 'list', ...tags] = args as [string, string?, ...string[]];
  const command = TAG_COMMANDS[word];
  if (!command) throw new UsageError(`invalid command: '${word}' (choose from list, add, del)`);
  if (command === 'add' && tags.length === 0) throw new UsageError('add requires at least one tag');
  if (command === 'del' && tags.length !== 1) throw new UsageError('del requires exactly one tag');
  if (command === 'list' && tags.length > 1) throw new UsageError('list takes at most one tag');
  for (const t of tags) validateTag(t);

  if (command === 'list') {
    const vm = resolveVm(ctx.store().read(), vmname);
    if (tags.length === 1) {
      if (!vm.tags.has(tags[0] as string)) throw new SilentExit(1);
      if (wantsJson(opts)) writeJson(ctx, { name: tags[0] as string });
      else ctx.out(`${tags[0]}\n`);
    } else if (wantsJson(opts)) writeJson(ctx, vm.tags.sorted().map((name) => ({ name })));
    else ctx.out(vm.tags.sorted().map((t) => `${t}\n`).join(''));
    return;
  }
  refuseJson(opts, `'${command}'`);
  await ctx.store().update((app) => {
    const vm = resolveVm(app, vmname);
    if (command === 'add') for (const t of tags) addTag(vm, t);
    else vm.tags.delete(tags[0] as string);
  });
}
