// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's network properties: its net qube (netvm, without loops),
 * whether it provides network, its addresses (net.ts derives them from the
 * qid or dispid) and what it sees of its gateway and DNS.
 *
 * Reference: qubes-core-admin: qubes/vm/mix/net.py;
 * shared/spec/store-and-core-tools.md §3.2.
 */
import { QubesPropertyValueError } from '../errors.js';
import { canonicalIPv6, isIPv4, isIPv6 } from '../util/ip-address.js';
import { checkWithNetvm, featureIsTrue } from './features.js';
import { addressFor, ipv6For, netvmLoopCheck } from './net.js';
import type { PropertyDef } from './property.js';
import type { QubesVM } from './qubes-vm.js';
import { address, matching } from './value-checks.js';

export function networkProperties(): PropertyDef<QubesVM>[] {
  const netvmOf = (vm: QubesVM) => vm.netvmVm();
  return [
    {
      name: 'netvm',
      type: 'vm',
      allowNone: true,
      loadStage: 4,
      doc: 'VM that provides network connection to this domain. When empty, machine is disconnected.',
      default: (vm) => (vm.klass === 'TemplateVM' ? null : (vm.app.get('default_netvm') ?? null)),
      validate: (vm, v) => {
        const target = typeof v === 'string' ? vm.app.domains.get(v) : null;
        if (!target) return;
        if (!target.providesNetwork()) throw new QubesPropertyValueError(`The ${target.name} qube does not provide network`);
        netvmLoopCheck(vm, target);
      },
    },
    {
      name: 'provides_network',
      type: 'bool',
      doc: 'If this domain can act as network provider (formerly known as NetVM or ProxyVM).',
      default: () => false,
      validate: (vm, v) => {
        if (v !== false) return;
        const users = vm.app.domains.connectedTo(vm);
        if (users.length > 0)
          throw new QubesPropertyValueError(
            `The qube is still used by other qubes as netvm (${users.map((u) => u.name).join(', ')}); change their netvm first`,
          );
      },
      afterChange: (vm) => {
        if (vm.get('provides_network') === true) vm.features.set('servicevm', true);
        else vm.features.delete('servicevm');
      },
    },
    {
      name: 'mac',
      type: 'str',
      doc: 'MAC address of the NIC emulated inside VM',
      default: () => '00:16:3e:5e:6c:00',
      normalize: (v) => v.toLowerCase(),
      validate: matching('mac', /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/, 'xx:xx:xx:xx:xx:xx'),
    },
    {
      name: 'ip',
      type: 'str',
      doc: 'IP address of this domain.',
      default: (vm) => (vm.get('provides_network') === true || netvmOf(vm) ? addressFor(vm) : null),
      validate: address('IPv4Address', isIPv4),
    },
    {
      name: 'ip6',
      type: 'str',
      doc: 'IPv6 address of this domain.',
      // stored as the reference stores str(IPv6Address): `FD00:0::1` becomes `fd00::1`
      normalize: (v) => canonicalIPv6(v) ?? v,
      validate: address('IPv6Address', isIPv6),
      default: (vm) =>
        (vm.get('provides_network') === true || netvmOf(vm)) && featureIsTrue(checkWithNetvm(vm, 'ipv6')) ? ipv6For(vm) : null,
    },
    { name: 'visible_ip', type: 'str', stateless: true, doc: 'IP address of this domain as seen by the domain.', default: (vm) => vm.features.get('net.fake-ip') ?? vm.get('ip') ?? null },
    { name: 'visible_ip6', type: 'str', stateless: true, doc: 'IPv6 address of this domain as seen by the domain.', default: (vm) => vm.get('ip6') ?? null },
    {
      name: 'visible_gateway',
      type: 'str',
      stateless: true,
      doc: 'Default gateway of this domain as seen by the domain.',
      default: (vm) => vm.features.get('net.fake-gateway') ?? netvmOf(vm)?.get('gateway') ?? null,
    },
    { name: 'visible_gateway6', type: 'str', stateless: true, doc: 'Default (IPv6) gateway of this domain as seen by the domain.', default: (vm) => netvmOf(vm)?.get('gateway6') ?? null },
    {
      name: 'visible_netmask',
      type: 'str',
      stateless: true,
      doc: 'Netmask as seen by the domain.',
      default: (vm) => vm.features.get('net.fake-netmask') ?? (netvmOf(vm) ? '255.255.255.255' : null),
    },
    {
      name: 'gateway',
      type: 'str',
      stateless: true,
      doc: 'Gateway for other domains that use this domain as netvm.',
      default: (vm) => (vm.get('provides_network') === true ? (vm.get('visible_ip') ?? null) : null),
    },
    {
      name: 'gateway6',
      type: 'str',
      stateless: true,
      doc: 'Gateway (IPv6) for other domains that use this domain as netvm.',
      default: (vm) => (vm.get('provides_network') === true ? (vm.get('visible_ip6') ?? null) : null),
    },
    {
      name: 'dns',
      type: 'str',
      stateless: true,
      doc: 'DNS servers set up for this domain.',
      default: (vm) => (netvmOf(vm) ? '10.139.1.1 10.139.1.2' : null),
    },
  ];
}
