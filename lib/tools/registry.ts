// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The commands this package installs (the keys of "bin" in package.json;
 * test/docs/gen-docs.test.ts checks they agree) and a way to load a
 * command's spec without running it. Nothing is imported at load time:
 * each command module is imported on demand.
 */
import type { CommandSpec } from './common/spec.js';

export const COMMANDS: string[] = [
  'qvm-ls',
  'qvm-prefs',
  'qubes-prefs',
  'qvm-create',
  'qvm-remove',
  'qvm-clone',
  'qvm-features',
  'qvm-service',
  'qvm-tags',
  'qvm-notes',
  'qubes-create',
  'qvm-pool',
  'qvm-volume',
  'qvm-device',
  'qvm-pci',
  'qvm-block',
  'qvm-usb',
  'qvm-check',
  'qvm-start',
  'qvm-shutdown',
  'qvm-kill',
  'qvm-pause',
  'qvm-unpause',
  'qvm-firewall',
  'qubes-firewall-expire',
  'qubesd',
  'qubesd-query',
  'qubesdb-daemon',
  'qubesdb-read',
  'qubesdb-write',
  'qubesdb-rm',
  'qubesdb-list',
  'qubesdb-multiread',
  'qubesdb-watch',
  'qvm-backup',
  'qvm-backup-restore',
];

/** The module of a command, lib/tools/NAME.ts. */
export interface CommandModule {
  spec: CommandSpec;
  run: (...args: never[]) => unknown;
  [key: string]: unknown;
}

export async function loadModule(name: string): Promise<CommandModule> {
  if (!COMMANDS.includes(name)) throw new Error(`unknown command: ${name}`);
  return (await import(`./${name}.js`)) as CommandModule;
}

export async function loadSpec(name: string): Promise<CommandSpec> {
  const mod = await loadModule(name);
  if (!mod.spec) throw new Error(`lib/tools/${name}.ts exports no spec`);
  return mod.spec;
}
