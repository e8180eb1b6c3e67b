// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Services are features named `service.NAME`. Setting
 * `service.meminfo-writer` is turned into the maxmem setting it stands for
 * (true: maxmem back to default, false: maxmem=0) and not stored.
 * Reference: qubes-core-admin: qubes/ext/services.py, qubes/ext/vm_config.py;
 * shared/spec/store-and-core-tools.md §5.2.
 */
import { QubesValueError } from '../errors.js';
import { checkPreloadFeature } from './dispvm-template.js';
import { featureIsTrue } from './features.js';
import type { QubesVM } from './qubes-vm.js';

export const SERVICE_PREFIX = 'service.';

export function validateServiceName(untrusted: string): string {
  if (untrusted === '' || untrusted.includes('/') || untrusted === '.' || untrusted === '..')
    throw new QubesValueError(`Invalid service name: '${untrusted}'`);
  if (untrusted.length > 48 && !untrusted.startsWith('app-dispvm.'))
    throw new QubesValueError(`Service name too long (over 48 characters): '${untrusted}'`);
  return untrusted;
}

export const VM_CONFIG_PREFIX = 'vm-config.';

/**
 * A `vm-config.NAME` feature becomes the QubesDB key `/vm-config/NAME` of
 * the running qube (keys hold at most 63 bytes) and a file name inside it:
 * the reference refuses other names, in these words (its "46 bytes" for a
 * limit of 52 included).
 */
export function validateVmConfigName(untrusted: string): string {
  if (untrusted.length > 52) throw new QubesValueError('VM config name must not exceed 46 bytes');
  if (untrusted === '') throw new QubesValueError('Empty config name not allowed');
  if (!/^[A-Za-z]/.test(untrusted)) throw new QubesValueError('Config name must start with an ASCII letter');
  return untrusted;
}

/**
 * Set a feature the way the core does: the checks it makes before a set
 * (service and vm-config names, the preload-dispvm* values), and the
 * service conversions.
 */
export function setFeature(vm: QubesVM, name: string, value: string | boolean): void {
  if (name.startsWith(SERVICE_PREFIX)) validateServiceName(name.slice(SERVICE_PREFIX.length));
  if (name.startsWith(VM_CONFIG_PREFIX)) validateVmConfigName(name.slice(VM_CONFIG_PREFIX.length));
  if (name.startsWith('preload-dispvm')) checkPreloadFeature(vm, name, typeof value === 'boolean' ? (value ? '1' : '') : value);
  if (name === 'service.meminfo-writer' && vm.has('maxmem') && vm.klass !== 'AdminVM') {
    const on = typeof value === 'boolean' ? value : featureIsTrue(value);
    if (on) vm.props.delete('maxmem');
    else vm.props.set('maxmem', '0');
    vm.features.delete(name);
    return;
  }
  vm.features.set(name, value);
}
