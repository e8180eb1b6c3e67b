// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-create: create a new qube.
 * Reference: qubesadmin/tools/qvm_create.py; spec §10.1. Domain logic is in
 * lib/ops/create-qube.ts; this file parses, checks and reports.
 */
import fs from 'node:fs';
import { createQube } from '../ops/create-qube.js';
import { QubesCancelledError, QubesError } from '../errors.js';
import { CREATABLE_CLASSES, type VmClass } from '../vm/vm-properties.js';
import { isCreatableClass, parseVolumePools } from '../app/vm-factory.js';
import { UsageError } from './common/errors.js';
import { cancellable } from './common/cancel-signals.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { sessionStorage } from '../ops/session-storage.js';

export const spec: CommandSpec = {
  name: 'qvm-create',
  summary: 'create a new qube',
  args: [{ name: 'VMNAME', description: 'name of the new qube (optional for --disp: disp<ID>)', kind: 'text', optional: true }],
  options: [
    { flags: '-C, --class <CLASS>', description: 'class of the new qube (default: AppVM)', kind: 'class' },
    { flags: '--standalone', description: 'shortcut for --class StandaloneVM' },
    { flags: '--disp', description: 'shortcut for --class DispVM (label red unless given)' },
    { flags: '-l, --label <LABEL>', description: 'label of the new qube (mandatory)', kind: 'label' },
    { flags: '-t, --template <VMNAME>', description: 'template to base the qube on (default: the global default_template, or default_dispvm for DispVM)', kind: 'vm' },
    {
      flags: '--prop, --property <NAME=VALUE>',
      description: 'set a property of the new qube (label, template and name are also accepted here)',
      kind: 'text',
      repeatable: true,
    },
    { flags: '-P <POOL>', description: 'storage pool for all writable, non-snapshot volumes', kind: 'pool' },
    { flags: '-p, --pool <VOLUME=POOL>', description: 'storage pool for one volume: root, private, volatile or kernel', kind: 'pool', repeatable: true },
    { flags: '-r, --root-copy-from <FILE>', description: 'use a copy of FILE as the root volume (TemplateVM, StandaloneVM)', kind: 'file' },
    { flags: '-R, --root-move-from <FILE>', description: 'move FILE into the root volume (TemplateVM, StandaloneVM)', kind: 'file' },
    { flags: '--no-root', description: 'accepted for compatibility; does nothing', hidden: true },
    { flags: '--help-classes', description: 'list the classes of qubes that can be created and exit' },
  ],
};

interface Opts {
  class?: string;
  standalone?: boolean;
  disp?: boolean;
  label?: string;
  template?: string;
  property?: string[];
  P?: string;
  pool?: string[];
  rootCopyFrom?: string;
  rootMoveFrom?: string;
  helpClasses?: boolean;
}

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  if (opts.helpClasses) {
    ctx.out([...CREATABLE_CLASSES].sort().map((c) => `${c}\n`).join(''));
    return 0;
  }
  const perVolume = parseVolumePools(opts.pool);
  if (typeof perVolume === 'string') throw new UsageError(perVolume);
  if (opts.P !== undefined && perVolume.size > 0) throw new UsageError('-P and -p/--pool cannot be used together');

  const props: [string, string][] = [];
  const shorthand = new Map<string, string>();
  for (const p of opts.property ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected a property in the form NAME=VALUE, got '${p}'`);
    const name = p.slice(0, eq).replace(/-/g, '_');
    const value = p.slice(eq + 1);
    if (name === 'label' || name === 'template' || name === 'name') shorthand.set(name, value);
    else props.push([name, value]);
  }

  const klassText = opts.standalone ? 'StandaloneVM' : opts.disp ? 'DispVM' : (opts.class ?? 'AppVM');
  const label = opts.label ?? shorthand.get('label') ?? (klassText === 'DispVM' ? 'red' : undefined);
  if (label === undefined) throw new UsageError('--label option is mandatory');
  const name = args[0] ?? shorthand.get('name');
  if (name === undefined && klassText !== 'DispVM') throw new UsageError('VMNAME is mandatory');
  if (opts.rootCopyFrom !== undefined && opts.rootMoveFrom !== undefined)
    throw new UsageError('--root-copy-from and --root-move-from cannot be used together');
  const rootFile = opts.rootCopyFrom ?? opts.rootMoveFrom;
  if (rootFile !== undefined) {
    const st = fs.statSync(rootFile, { throwIfNoEntry: false });
    if (!st) throw new UsageError(`File pointed by --root-copy-from/--root-move-from does not exist: ${rootFile}`);
    if (!st.isFile()) {
      // /dev/zero would be copied until killed; a block device has no length here
      const kind = st.isBlockDevice() ? 'a block device' : st.isCharacterDevice() ? 'a character device' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a directory';
      throw new UsageError(`File pointed by --root-copy-from/--root-move-from is ${kind}, not an image file: ${rootFile}`);
    }
    if (klassText === 'AppVM' || klassText === 'DispVM')
      throw new UsageError(`--root-copy-from/--root-move-from cannot be used with ${klassText} (it uses its template's root volume)`);
  }

  const template = opts.template ?? shorthand.get('template');
  const result = await cancellable(ctx, async (signal) => {
    try {
      return await createQube(
        ctx.store(),
        sessionStorage(ctx.session),
        {
          klass: klassText as VmClass,
          name,
          label,
          template,
          pools: { all: opts.P, perVolume },
          props,
          rootFile,
          moveRoot: opts.rootMoveFrom !== undefined,
        },
        (app) => {
          if (!app.labels.has(label)) {
            try {
              app.labels.get(label);
            } catch {
              throw new UsageError(`no such label: '${label}'; available: ${app.labels.names().join(', ')}`);
            }
          }
          if (!isCreatableClass(klassText)) throw new UsageError(`no such domain class: '${klassText}'`);
        },
        signal,
      );
    } catch (e) {
      if (e instanceof QubesError && !(e instanceof QubesCancelledError)) throw new QubesError(`Error creating VM: ${e.message}`);
      throw e;
    }
  });
  for (const w of result.warnings) ctx.err(`${ctx.prog}: warning: ${w}\n`);
  for (const pe of result.propErrors) ctx.err(`${ctx.prog}: error: Error setting property ${pe.prop} (but VM created): ${pe.message}\n`);
  return result.propErrors.length > 0 ? 2 : 0;
}
