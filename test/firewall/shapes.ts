import type { RuleFields } from '../../lib/firewall/rule.js';

/** Every rule shape: host kinds, protocols with and without ports/types, special target, expiry, comment. */
export const SHAPES: RuleFields[] = [
  { action: 'accept' },
  { action: 'drop' },
  { action: 'accept', dsthost: '192.168.0.0/24', proto: 'tcp', dstports: '80-90', comment: 'LAN web' },
  { action: 'accept', dsthost: '10.0.0.1' },
  { action: 'drop', dsthost: 'fd00::/8', proto: 'udp', dstports: '53' },
  { action: 'accept', dsthost: '2001:db8::1' },
  { action: 'accept', dsthost: 'www.qubes-os.org', proto: 'tcp', dstports: '443' },
  { action: 'drop', proto: 'icmp', icmptype: '8' },
  { action: 'accept', proto: 'icmp' },
  { action: 'accept', specialtarget: 'dns' },
  { action: 'accept', proto: 'udp' },
  { action: 'accept', expire: '2063292452', proto: 'tcp', comment: 'Some comment, with spaces' },
  { action: 'accept', dsthost: '127.0.0.1/08' },
];
