// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * qubes-create: write a fresh store (qubes.xml) at installation time
 * (lib/ops/create-store.ts). Refuses to overwrite an existing store.
 * Reference: qubes-core-admin: qubes/tools/qubes_create.py,
 * Qubes.load_initial_values; spec §1.1.
 */
import { createStore } from '../ops/create-store.js';
import { sessionStorage } from '../ops/session-storage.js';
import type { Context } from './common/program.js';
import type { CommandSpec } from './common/spec.js';

export const spec: CommandSpec = {
  name: 'qubes-create',
  summary: 'create a new, empty Qubes store (qubes.xml)',
  args: [],
  options: [],
};

export async function run(_opts: unknown, _args: string[], ctx: Context): Promise<number> {
  await createStore(ctx.store(), sessionStorage(ctx.session));
  return 0;
}
