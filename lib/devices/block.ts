// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Block devices of a backend, read from its QubesDB entries
 * (`/qubes-block-devices/PORT/{desc,size,mode,parent}`); dom0's come from
 * block-export.ts in the same shape. Entries are untrusted: names are
 * filtered, text is sanitised, numbers checked.
 *
 * Reference: qubes-core-admin: qubes/ext/block.py; shared/spec/firewall-and-devices.md B2, B3, B7.
 */
import { BLOCK_QDB_PREFIX } from './block-export.js';
import type { DeviceInfo, Port } from './model.js';
import { qdbDevices } from './runtime.js';

const NAME_RE = /^[a-z0-9-]{1,12}$/;
const DESC_ALLOWED = /[^A-Za-z0-9()+,\-.:=_/ ]/g;
/** The reference's default sanitiser: printable ASCII, no space. */
const PRINTABLE = /[^!-~]/g;

interface RawBlock {
  portId: string;
  fields: Map<string, string>;
}

const rawDevices = (backend: string, entries: Map<string, string>, warn: (m: string) => void): RawBlock[] =>
  qdbDevices(backend, entries, BLOCK_QDB_PREFIX, NAME_RE, warn).map(({ key, fields }) => ({ portId: key, fields }));

/** Trailing digits of the port id: `sda1`→1, `loop0p1`→1, `nvme0n1`→1; none reads `None` (quirk, kept). */
const partitionNumber = (portId: string): string => /(\d+)$/.exec(portId)?.[1]?.replace(/^0+(?=\d)/, '') ?? 'None';

/**
 * Devices from QubesDB entries. `usbIdentity` gives the device id of a
 * USB parent (from the same backend), for block devices on USB sticks.
 */
export function blockDevicesFromQdb(
  backend: string,
  entries: Map<string, string>,
  warn: (m: string) => void,
  usbIdentity: (portId: string) => string,
): DeviceInfo[] {
  const raws = rawDevices(backend, entries, warn);
  const byPort = new Map(raws.map((r) => [r.portId, r]));
  const ids = new Map<string, string>();
  const identity = (r: RawBlock, seen: Set<string>): string => {
    const cached = ids.get(r.portId);
    if (cached !== undefined) return cached;
    const p = parentOf(r);
    let parentId = '';
    let self = partitionNumber(r.portId);
    if (p?.devclass === 'usb') {
      parentId = usbIdentity(p.portId);
      self = p.iface;
    } else if (p) {
      const pr = byPort.get(p.portId);
      parentId = pr && !seen.has(pr.portId) ? identity(pr, new Set([...seen, r.portId])) : '';
    }
    const id = `${parentId}:${self}`;
    ids.set(r.portId, id);
    return id;
  };
  return raws.map((r) => {
    const { serial, name } = splitDesc(r.fields.get('desc'));
    const p = parentOf(r);
    const parent: Port | undefined = p ? { backend, portId: p.portId, devclass: p.devclass } : undefined;
    const size = r.fields.get('size');
    let sizeBytes = 0;
    if (size !== undefined && /^\d+$/.test(size)) sizeBytes = Number(size);
    else if (size !== undefined) warn(`Device ${r.portId} has invalid size`);
    let mode = r.fields.get('mode') ?? 'w';
    if (mode !== 'r' && mode !== 'w') {
      warn(`Device ${r.portId} has invalid mode`);
      mode = 'w';
    }
    return {
      backend,
      portId: r.portId,
      devclass: 'block',
      deviceId: identity(r, new Set()),
      serial,
      name,
      manufacturer: parent ? `sub-device of ${parent.backend}:${parent.portId}` : `hosted by ${backend}`,
      interfaces: ['b******'],
      ...(parent ? { parent } : {}),
      data: [
        ['size', String(sizeBytes)],
        ['mode', mode],
      ],
    };
  });
}

/** `4-4.1:1.0` is a USB parent (port and interface number); a plain name is a block parent. */
function parentOf(r: RawBlock): { portId: string; devclass: 'usb' | 'block'; iface: string } | undefined {
  const raw = r.fields.get('parent');
  if (raw === undefined) return undefined;
  const clean = raw.replace(PRINTABLE, '_');
  const colon = clean.indexOf(':');
  const portId = colon < 0 ? clean : clean.slice(0, colon);
  if (!portId) return undefined;
  return colon < 0 ? { portId, devclass: 'block', iface: '' } : { portId, devclass: 'usb', iface: clean.slice(colon + 1) };
}

/** `MODEL (LABEL)`: the model becomes the serial, the label the name. */
function splitDesc(desc: string | undefined): { serial: string; name: string } {
  if (!desc) return { serial: 'unknown', name: 'unknown' };
  const clean = desc.replace(/[^\x00-\x7f]/g, '').replace(DESC_ALLOWED, '_');
  const sp = clean.indexOf(' ');
  const model = sp < 0 ? clean : clean.slice(0, sp);
  const label = sp < 0 ? '' : clean.slice(sp + 1);
  const serial = model ? model.replace(/_/g, ' ').trim() : 'unknown';
  const inner = label.slice(1, -1);
  const name = inner ? inner.replace(/_/g, ' ').trim() : 'unknown';
  return { serial: serial || 'unknown', name: name || 'unknown' };
}
