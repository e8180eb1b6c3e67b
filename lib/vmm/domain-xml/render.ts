// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The libvirt domain XML of a qube for a connection URI: the Xen template
 * for `xen://` (and `test://`, whose driver parses Xen XML), the QEMU one
 * for `qemu://`; a user override file replaces blocks of it.
 *
 * Only the lifecycle defines a domain, right before starting it: volume
 * paths are valid once storage has started (vmm.md §1.5).
 */
import fs from 'node:fs';
import type { Qubes } from '../../app/app.js';
import { DEFAULT_TEMPLATE_PATH, hostRoots } from '../../config.js';
import { QubesError } from '../../errors.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet } from '../../storage/qube-storage.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { collectDomainParams, type DomainParams, type ParamsOptions } from './domain-params.js';
import { qemuTemplate } from './qemu.js';
import { findOverride, flavourFor, renderOverride, type Flavour } from './template-override.js';
import { expand, type Segment } from './template.js';
import { xenTemplate } from './xen.js';

/**
 * What rendering takes from the command's session; a default is what an
 * empty environment gives (no overrides of paths).
 */
export interface RenderOptions extends Partial<ParamsOptions> {
  /** Where override files are looked for (QUBES_TEMPLATE_PATH; default the standard directories). */
  templateDirs?: string[];
  /** The caller fetched the runtime state of every qube just now (and gives xidOf for the ones it started since). */
  refreshed?: boolean;
}

export { flavourFor };

export function builtinTemplate(flavour: Flavour, p: DomainParams): Segment[] {
  return flavour === 'qemu' ? qemuTemplate(p) : xenTemplate(p);
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

/** A property as Jinja would print it: Python's spelling of booleans and none. */
function propertyText(vm: QubesVM, name: string): string {
  if (name === 'name') return escape(vm.name);
  if (name === 'uuid') return escape(vm.uuid ?? '');
  if (!vm.has(name)) throw new QubesError(`Domain template refers to vm.${name}, which ${vm.name} does not have`);
  const v = vm.get(name);
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return escape(String(v));
}

/**
 * The domain XML of `vm` for the libvirt URI `uri`.
 * @throws QubesError (a device or template that cannot be rendered), VmmError
 */
export async function renderDomainXml(app: Qubes, vm: QubesVM, uri: string, o: RenderOptions = {}): Promise<string> {
  const flavour = flavourFor(uri);
  if (!app.vmm.offline && !o.refreshed) {
    // maxmem's default needs the host memory, the HVM device model the audio and GUI qubes' xids
    const others = [vm.vmRef('audiovm'), vm.vmRef('guivm')].filter((v): v is QubesVM => v !== null);
    await app.vmm.refresh([vm, ...others]);
  }
  const p = await collectDomainParams(app, vm, {
    pools: o.pools ?? new PoolSet(app, storageContext({})),
    sysRoot: o.sysRoot ?? hostRoots({}).sys,
    cpuinfo: o.cpuinfo ?? (() => readCpuinfo()),
    xidOf: o.xidOf ?? ((q) => app.vmm.info(q).xid),
    startOnlyBlock: o.startOnlyBlock,
  });
  const builtin = builtinTemplate(flavour, p);
  const dirs = o.templateDirs ?? DEFAULT_TEMPLATE_PATH;
  const file = findOverride(dirs, flavour, vm.name);
  if (!file) return expand(builtin);
  return renderOverride(file, dirs, flavour, builtin, { value: (name) => propertyText(vm, name) });
}

function readCpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}
