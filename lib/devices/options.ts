// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Per-class device options (`-o NAME=VALUE`): which exist and what values
 * they take. Block options follow the reference's block extension; PCI
 * knows `no-strict-reset` and `permissive`; USB and mic take none.
 *
 * Reference: qubes-core-admin: qubes/ext/block.py on_device_pre_attached_block;
 * qvm-device manpage; shared/spec/firewall-and-devices.md B5, B9.
 * Deliberate: an option a class does not know is refused (with the block
 * extension's "Unsupported option" wording) for every class and for
 * `assign` too, so nothing unusable is stored.
 */
import { QubesValueError } from '../errors.js';
import { parseBool } from '../vm/property.js';

export type Options = [string, string][];

const PCI_OPTIONS = new Set(['no-strict-reset', 'permissive']);

function checkBlockOption(name: string, value: string): string {
  switch (name) {
    case 'frontend-dev':
      if (!/^(xvd|sd)/.test(value)) throw new QubesValueError(`Invalid frontend-dev option value: ${value}`);
      return value;
    case 'read-only': {
      const b = parseBool(value);
      if (b === undefined) throw new QubesValueError(`Invalid literal for boolean property: '${value}'`);
      return b ? 'yes' : 'no';
    }
    case 'devtype':
      if (value !== 'disk' && value !== 'cdrom') throw new QubesValueError("devtype option can only have 'disk' or 'cdrom' value");
      return value;
    default:
      throw new QubesValueError(`Unsupported option ${name}`);
  }
}

/**
 * Check options of a class; block `read-only` comes back normalised to
 * yes/no (what attach uses; `assign` stores what was given).
 * @throws QubesValueError naming the first bad option
 */
export function checkOptions(devclass: string, options: Options): Options {
  return options.map(([name, value]) => {
    if (devclass === 'block') return [name, checkBlockOption(name, value)];
    if (devclass === 'pci' && PCI_OPTIONS.has(name)) return [name, value];
    throw new QubesValueError(`Unsupported option ${name}`);
  });
}

/** Block attach: a read-only device can only be attached read-only; its mode decides a missing read-only. */
export function blockReadOnly(options: Options, deviceMode: string): Options {
  const ro = options.find(([k]) => k === 'read-only');
  if (!ro) return [...options, ['read-only', deviceMode === 'r' ? 'yes' : 'no']];
  if (ro[1] === 'no' && deviceMode === 'r') throw new QubesValueError('This device can be attached only read-only');
  return options;
}
