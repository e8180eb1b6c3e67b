// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The attributes of a PCI device in a qube's libvirt domain XML
 * (`<hostdev type="pci" managed="yes" [nostrictreset="yes"]>`, `<source
 * [writeFiltering="no"] [powerManagementFiltering="no"]>`, `<address>`),
 * for the domain XML writer of the VMM subsystem.
 *
 * Strict reset: the assignment option `no-strict-reset`, judged as a
 * string (any non-empty value turns it on, `False` included: quirk (1) of
 * spec B10, kept), or the older per-qube feature
 * `pci-no-strict-reset/BB:DD.F` that R4.0 development used and the
 * reference's integration tests still set (also accepted in the port form
 * `BB_DD.F`).
 *
 * Reference: qubes-core-admin: templates/libvirt/devices/pci.xml;
 * shared/spec/firewall-and-devices.md B5 (PCI extension, strict-reset history).
 */
import { featureIsTrue } from '../../vm/features.js';
import type { DeviceAssignment } from '../../vm/devices.js';
import type { QubesVM } from '../../vm/qubes-vm.js';

export interface PciHostdev {
  domain: string;
  bus: string;
  slot: string;
  function: string;
  noStrictReset: boolean;
  permissive: boolean;
  /** dom0 feature `suspend-s0ix`. */
  noPowerManagementFiltering: boolean;
}

const optionOn = (a: DeviceAssignment, name: string) => Boolean(a.options.find(([k]) => k === name)?.[1]);

/** @param sbdf the device's `SSSS:BB:DD.F` (from pathToSbdf) */
export function pciHostdev(vm: QubesVM, a: DeviceAssignment, sbdf: string, dom0: QubesVM | undefined): PciHostdev {
  const [domain, bus, devfn] = sbdf.split(':') as [string, string, string];
  const [slot, fn] = devfn.split('.') as [string, string];
  const bdf = `${bus}:${devfn}`;
  const feature = [bdf, `${bus}_${devfn}`].some((k) => featureIsTrue(vm.features.get(`pci-no-strict-reset/${k}`)));
  return {
    domain: `0x${domain}`,
    bus: `0x${bus}`,
    slot: `0x${slot}`,
    function: `0x${fn}`,
    noStrictReset: optionOn(a, 'no-strict-reset') || feature,
    permissive: optionOn(a, 'permissive'),
    noPowerManagementFiltering: featureIsTrue(dom0?.features.get('suspend-s0ix')),
  };
}
