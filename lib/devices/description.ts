// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Device interfaces (7 characters: bus letter + class, subclass, protocol),
 * their categories, their text, and the one-line description of a device
 * that `qvm-device list` shows.
 *
 * Reference: qubes-core-admin: qubes/device_protocol.py DeviceInterface,
 * DeviceCategory, DeviceInfo.description; shared/spec/firewall-and-devices.md B2.
 * [unsure] The category table: the spec names PCI_USB, Network, Display,
 * PCI_Bridge, USB_Storage, Block_Storage, Microphone and Audio with their
 * codes; the other rows follow the older published table.
 */
import type { HwData } from './hwdata.js';
import { portText, UNKNOWN_INTERFACE, type DeviceInfo } from './model.js';

/** Category name → patterns; on equal scores the earlier row wins. */
const CATEGORIES: [string, string[]][] = [
  ['Other', ['*******']],
  ['Communication', ['u02****', 'p07****']],
  ['Input', ['u03****', 'p09****']],
  ['Keyboard', ['u03**01', 'p0900**']],
  ['Mouse', ['u03**02', 'p0902**']],
  ['Printer', ['u07****']],
  ['Scanner', ['p0903**']],
  ['Microphone', ['m******']],
  ['Audio', ['u01****', 'p0401**', 'p0403**']],
  ['Display', ['p03****']],
  ['Video', ['u0e****', 'p0400**']],
  ['Multimedia', ['u06****', 'u10****', 'p04****']],
  ['Wireless', ['ue0****', 'p0d****']],
  ['Bluetooth', ['ue00101', 'p0d11**']],
  ['Block_Storage', ['b******']],
  ['USB_Storage', ['u08****']],
  ['PCI_Storage', ['p01****']],
  ['Network', ['p02****']],
  ['Memory', ['p05****']],
  ['PCI_Bridge', ['p06****']],
  ['Docking_Station', ['p0a****']],
  ['Processor', ['p0b****', 'p40****']],
  ['PCI_Serial_Bus', ['p0c****']],
  ['PCI_USB', ['p0c03**']],
];

/** The best-scoring category: one point per equal character, a mismatch against a non-`*` disqualifies. */
export function category(iface: string): string {
  let result = 'Other';
  if (iface.length !== 7) return result;
  let best = 0;
  for (const [name, patterns] of CATEGORIES) {
    for (const pat of patterns) {
      let score = 0;
      for (let i = 0; i < 7; i++) {
        if (iface[i] === pat[i]) score++;
        else if (pat[i] !== '*') {
          score = -1;
          break;
        }
      }
      if (score > best) {
        best = score;
        result = name;
      }
    }
  }
  return result;
}

const BUS_OF: Record<string, string> = { p: 'pci', u: 'usb', b: 'block', m: 'mic' };
const NO_NAME = new Set(['none', 'no subclass', 'unused', 'undefined']);

/** Text of an interface: class names from the ids files (subclass, then prog-if, then class). */
export function interfaceText(iface: string, hw: HwData): string {
  const bus = BUS_OF[iface[0] as string];
  if (bus === 'block') return 'Block Device';
  if (bus === 'mic') return 'Microphone';
  if (bus === 'pci' || bus === 'usb') {
    const code = iface.slice(1);
    const usable = (t: string | undefined) => (t !== undefined && !NO_NAME.has(t.toLowerCase()) ? t : undefined);
    const text =
      usable(hw.klass(bus, code.slice(0, 4) + '**')) ?? usable(hw.klass(bus, code)) ?? hw.klass(bus, code.slice(0, 2) + '****');
    return text ?? `${bus.toUpperCase()} device`;
  }
  return iface;
}

const known = (v: string | undefined): string | undefined => (v && v !== 'unknown' ? v : undefined);

/**
 * `«category»: «vendor» «product»` (spec B2). A sub-device with no product,
 * name or serial (an unlabelled partition) is described by its parent alone,
 * `sub-device of «backend»:«port»`, with no category or vendor: the reference
 * returns that line early (device_protocol.py DeviceInfo.description), where
 * spec B2 reads as if it were the product, which printed the parent twice
 * (block devices name their parent as manufacturer too).
 */
export function describe(dev: DeviceInfo, hw: HwData): string {
  const prod = known(dev.product) ?? known(dev.name) ?? known(dev.serial);
  if (prod === undefined && dev.parent) return `sub-device of ${portText(dev.parent)}`;
  const vendor = known(dev.vendor) ?? known(dev.manufacturer) ?? 'unknown vendor';
  const interfaces = dev.interfaces.length ? dev.interfaces : [UNKNOWN_INTERFACE];
  const generic = `${dev.devclass.toUpperCase()} device`;
  let cat = interfaces.map(category).find((c) => c !== 'Other');
  if (cat === undefined) {
    const text = interfaces.map((i) => interfaceText(i, hw)).find((t) => t !== generic);
    cat = text !== undefined ? text.replace(/_/g, ' ') : generic;
  }
  return `${cat}: ${vendor} ${prod ?? `unknown ${dev.devclass} device`}`;
}
