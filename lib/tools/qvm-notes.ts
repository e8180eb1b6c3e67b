// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qvm-notes: read, set, append to, import, edit or delete a qube's notes
 * (`notes.txt` in its directory; see lib/vm/notes.ts for what is stored).
 * Editing is the default action: the notes are written to a temporary
 * file, `$VISUAL` (else `$EDITOR`, else `vi`) is run on it, and they are
 * stored back only when the editor changed the file.
 *
 * Reference: qubesadmin/tools/qvm_notes.py, doc/manpages/qvm-notes.rst.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { changeNotes, getNotes } from '../app/qube-notes.js';
import { tmpDir } from '../config.js';
import { QubesError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { appendedNotes } from '../vm/notes.js';
import { UsageError } from './common/errors.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';
import { resolveVm } from './common/vm-args.js';
const { spawnSync } = childProcess;

export const spec: CommandSpec = {
  name: 'qvm-notes',
  summary: "read, set or edit a qube's notes",
  args: [{ name: 'VMNAME', description: 'qube whose notes to use', kind: 'vm' }],
  options: [
    { flags: '-f, --force', description: 'do not ask for confirmation (--delete)' },
    { flags: '-e, --edit', description: 'edit the notes in $VISUAL or $EDITOR (vi when neither is set); the default action' },
    { flags: '-p, --print', description: 'print the notes' },
    { flags: '-i, --import <FILENAME>', description: 'replace the notes with the content of FILENAME', kind: 'file' },
    { flags: '-s, --set <NOTES>', description: 'replace the notes with NOTES', kind: 'text' },
    { flags: '--append <NOTES>', description: 'add NOTES to the notes, on a line of its own', kind: 'text' },
    { flags: '-d, --delete', description: 'delete the notes (asks for confirmation unless --force)' },
  ],
};

interface Opts {
  force?: boolean;
  edit?: boolean;
  print?: boolean;
  import?: string;
  set?: string;
  append?: string;
  delete?: boolean;
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

export async function run(opts: Opts, args: string[], ctx: Context): Promise<number> {
  const actions = [opts.edit, opts.print, opts.import !== undefined, opts.set !== undefined, opts.append !== undefined, opts.delete];
  if (actions.filter(Boolean).length > 1) throw new UsageError('only one of --edit, --print, --import, --set, --append and --delete may be given');
  const [vmname] = args as [string];
  const store = ctx.store();
  resolveVm(store.read(), vmname);

  if (opts.print) {
    ctx.out(`${getNotes(store, vmname)}\n`);
  } else if (opts.set !== undefined) {
    await changeNotes(store, vmname, () => utf8(opts.set as string));
  } else if (opts.append !== undefined) {
    await changeNotes(store, vmname, (notes) => utf8(appendedNotes(notes, opts.append as string)));
  } else if (opts.import !== undefined) {
    const data = readFile(opts.import);
    await changeNotes(store, vmname, () => data);
  } else if (opts.delete) {
    if (!opts.force) {
      ctx.out('You are about to delete the notes of this qube.\nAre you certain? [y/N] ');
      if (ctx.session.streams.readLine().trim().toUpperCase() !== 'Y') return 2;
    }
    await changeNotes(store, vmname, () => new Uint8Array());
  } else {
    await edit(ctx, vmname);
  }
  return 0;
}

function readFile(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new QubesError(`Cannot read ${file}: ${ioReason(e)}`);
  }
}

/** The notes in a temporary file, the editor on it, the file stored back if the editor changed it. */
async function edit(ctx: Context, vmname: string): Promise<void> {
  const store = ctx.store();
  const dir = fs.mkdtempSync(path.join(tmpDir(ctx.env), `${vmname}_qube_`));
  const file = path.join(dir, `${vmname}_notes.txt`);
  try {
    fs.writeFileSync(file, getNotes(store, vmname), { mode: 0o600 });
    const before = fs.statSync(file, { bigint: true }).mtimeNs;
    // as the reference: the variable is expanded (and split into words) by the shell
    const r = spawnSync('sh', ['-c', '${VISUAL:-${EDITOR:-vi}} "$1"', 'sh', file], { stdio: 'inherit', env: ctx.env });
    if (r.error) throw new QubesError(`Cannot run the editor: ${r.error.message}`);
    if (r.status !== 0) throw new QubesError(`The editor failed (exit status ${r.status ?? r.signal}); the notes are unchanged`);
    if (fs.statSync(file, { bigint: true }).mtimeNs === before) return;
    const data = readFile(file);
    await changeNotes(store, vmname, () => data);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
