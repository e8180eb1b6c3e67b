// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-clone: a new qube with another one's settings and disk data.
 * Reference: qubesadmin/tools/qvm_clone.py, qubesadmin/app.py clone_vm;
 * spec §10.3. The disk data is copied outside the store lock; the record is
 * added only once it is in place (lib/ops/clone-qube.ts).
 */
import { cloneQube } from '../ops/clone-qube.js';
import type { VmClass } from '../vm/vm-properties.js';
import { isCreatableClass, parseVolumePools } from '../app/vm-factory.js';
import { UsageError } from './common/errors.js';
import { cancellable } from './common/cancel-signals.js';
import { copyProgress } from './common/progress.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { sessionStorage } from '../ops/session-storage.js';

export const spec: CommandSpec = {
  name: 'qvm-clone',
  summary: 'clone a qube',
  args: [
    { name: 'VMNAME', description: 'qube to clone (must be halted)', kind: 'vm' },
    { name: 'NEWVM', description: 'name of the new qube', kind: 'text' },
  ],
  options: [
    { flags: '-C, --class <CLASS>', description: 'class of the new qube (default: that of the source)', kind: 'class' },
    { flags: '--ignore-errors', description: 'only warn when properties, features, tags or devices cannot be copied (disk data errors still abort)' },
    { flags: '-P <POOL>', description: 'storage pool for all writable, non-snapshot volumes', kind: 'pool' },
    { flags: '-p, --pool <VOLUME=POOL>', description: 'storage pool for one volume: root, private, volatile or kernel', kind: 'pool', repeatable: true },
  ],
};

interface Opts {
  class?: string;
  ignoreErrors?: boolean;
  P?: string;
  pool?: string[];
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const [source, name] = args as [string, string];
  const perVolume = parseVolumePools(opts.pool);
  if (typeof perVolume === 'string') throw new UsageError(perVolume);
  if (opts.P !== undefined && perVolume.size > 0) throw new UsageError('-P and -p/--pool cannot be used together');
  if (opts.class !== undefined && !isCreatableClass(opts.class)) throw new UsageError(`no such domain class: '${opts.class}'`);
  const { warnings } = await cancellable(ctx, (signal) =>
    cloneQube(
      ctx.store(),
      { ...sessionStorage(ctx.session), watchCopy: copyProgress(ctx, (vid) => `Copying ${vid}...`) },
      {
        source,
        name,
        klass: opts.class as VmClass | undefined,
        pools: { all: opts.P, perVolume },
        ignoreErrors: Boolean(opts.ignoreErrors),
      },
      signal,
    ),
  );
  for (const w of warnings) ctx.err(`${ctx.prog}: warning: ${w}\n`);
  return 0;
}
