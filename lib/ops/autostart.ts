// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The `autostart` property's side effect: a qube that autostarts has its
 * instance of the systemd unit `qubes-vm@.service` enabled
 * (`qubes-vm@NAME.service`, which runs `qvm-start --skip-if-running NAME`
 * at boot, contrib/systemd), and disabled again when the property goes
 * false, is reset from true, or the qube is removed; a qube created with
 * it true has it enabled. As in the reference the command runs before the
 * change is saved, and its failure refuses the change.
 *
 * The reference links the unit with `ln -sf` (a workaround for a systemd
 * bug of 2015 with template units) and unlinks it with `systemctl
 * disable`; here `systemctl enable` links it, as the reference itself
 * does for a qube created with autostart, so the unit is found wherever
 * the package installed it (SYSTEMDUNITDIR).
 *
 * Reference: qubes-core-admin: qubes/vm/qubesvm.py
 * (on_property_pre_set_autostart, on_property_pre_reset_autostart,
 * on_remove_from_disk, on_create_on_disk), linux/systemd/qubes-vm@.service.
 */
import { QubesError } from '../errors.js';
import { asRoot, type CommandRunner } from '../storage/command-runner.js';
import { getProperty, type PropertyHolder } from '../vm/property.js';

export const autostartUnit = (name: string): string => `qubes-vm@${name}.service`;

/** The systemctl command that enables or disables qube `name`'s unit (through sudo unless root: asRoot). */
export function autostartCommand(name: string, enable: boolean): string[] {
  return ['systemctl', enable ? 'enable' : 'disable', autostartUnit(name)];
}

/** Run the systemctl command of qube `name`'s unit; why it failed, or undefined. */
async function systemctl(runner: CommandRunner, name: string, enable: boolean): Promise<string | undefined> {
  const r = await runner.run(asRoot(autostartCommand(name, enable)));
  return r.exitCode === 0 ? undefined : r.stderr.trim() || `systemctl exited ${r.exitCode}`;
}

/** @throws QubesError in the reference's words when the command fails */
async function run(runner: CommandRunner, name: string, enable: boolean, what: 'set' | 'reset'): Promise<void> {
  if ((await systemctl(runner, name, enable)) !== undefined) throw new QubesError(`Failed to ${what} autostart for VM in systemd`);
}

const isQube = (h: PropertyHolder): h is PropertyHolder & { name: string; klass: string } => 'klass' in h && 'name' in h;
/** Whether `h` is set to autostart (false for holders without the property). */
export const autostarts = (h: PropertyHolder): boolean => h.defs.has('autostart') && getProperty(h, 'autostart') === true;

/**
 * Make a change of property `name` of `h` (inside the store's update,
 * before the save), then, for a qube's `autostart`, enable or disable its
 * unit: a set enables or disables it by the new value, a reset of a true
 * value disables it.
 * @throws QubesError when systemctl fails (the change is then not saved)
 */
export async function changeProperty(runner: CommandRunner, h: PropertyHolder, name: string, kind: 'set' | 'reset', change: () => void): Promise<void> {
  if (name !== 'autostart' || !isQube(h)) return change();
  const was = autostarts(h);
  change();
  if (kind === 'set') await run(runner, h.name, autostarts(h), 'set');
  else if (was) await run(runner, h.name, false, 'reset');
}

/**
 * A qube created (`enable`) or removed with autostart true: enable or
 * disable its unit. The qube is made or gone whatever systemctl says, so
 * a failure is returned as a warning.
 */
export async function autostartChanged(runner: CommandRunner, name: string, autostart: boolean, enable: boolean): Promise<string | undefined> {
  if (!autostart) return undefined;
  const why = await systemctl(runner, name, enable);
  return why === undefined ? undefined : `cannot ${enable ? 'enable' : 'disable'} ${autostartUnit(name)}: ${why}`;
}
