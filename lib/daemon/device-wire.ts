// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Devices and assignments as the Admin API carries them: `key='value'`
 * words separated by spaces (a `'` inside a value escaped as `\'`; keys
 * starting with `_` are options or extra data), and the request argument
 * `BACKEND+PORT[:DEVICE_ID]` (`_` for `*`).
 *
 * Reference: qubes-core-admin: qubes/device_protocol.py (DeviceSerializer,
 * VirtualDevice.from_qarg / serialize, DeviceInfo.serialize,
 * DeviceAssignment.serialize / deserialize).
 */
import { ProtocolError } from '../errors.js';
import { ANY, UNKNOWN_INTERFACE, type DeviceInfo, type VirtualDevice } from '../devices/model.js';
import type { Options } from '../devices/options.js';
import { MalformedRequest } from './malformed.js';

const KEY_CHARS = /^[0-9A-Za-z!#$%&()*+,\-./:;<>?@[\\\]^_{|}~]*$/;
/** The key characters, plus the rest of ASCII punctuation and space. */
const VALUE_CHARS = /^[0-9A-Za-z!#$%&()*+,\-./:;<>?@[\\\]^_{|}~"'`= ]*$/;

function packProperty(key: string, value: string | undefined): string {
  if (value === undefined) return '';
  if (!KEY_CHARS.test(key)) throw new ProtocolError(`Invalid chars in property name: ${key}`);
  const quoted = `'${value.replace(/'/g, "\\'")}'`;
  if (!VALUE_CHARS.test(quoted)) throw new ProtocolError(`Invalid chars in property value: ${quoted}`);
  return `${key}=${quoted}`;
}

const pack = (pairs: [string, string | undefined][]) => pairs.map(([k, v]) => packProperty(k, v)).filter(Boolean).join(' ');

export const serializeVirtual = (v: VirtualDevice): string =>
  pack([
    ['device_id', v.deviceId],
    ['port_id', v.port.portId],
    ['devclass', v.port.devclass],
    ['backend_domain', v.port.backend],
  ]);

/** A device a qube exposes (Available). Which qube it is attached to is not sent. */
export function serializeInfo(d: DeviceInfo): string {
  const pairs: [string, string | undefined][] = [
    ['vendor', d.vendor],
    ['product', d.product],
    ['manufacturer', d.manufacturer],
    ['name', d.name],
    ['serial', d.serial],
    ['interfaces', d.interfaces.join('')],
  ];
  if (d.parent) pairs.push(['parent_port_id', d.parent.portId], ['parent_devclass', d.parent.devclass]);
  for (const [k, v] of d.data) pairs.push([`_${k}`, v]);
  return `${serializeVirtual({ port: d, deviceId: d.deviceId })} ${pack(pairs)}`;
}

/** An assignment or attachment of `device` to `frontend`. */
export function serializeAssignment(device: VirtualDevice, mode: string, frontend: string, options: Options): string {
  return [serializeVirtual(device), pack([['mode', mode], ['frontend_domain', frontend], ...options.map(([k, v]): [string, string] => [`_${k}`, v])])].join(' ');
}

/** `key='value' ...` back into properties and options (`_` keys). @throws ProtocolError */
export function unpackProperties(untrusted: Buffer): { props: Map<string, string>; options: Options } {
  const text = untrusted.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError("'ascii' codec can't decode the payload");
  const decoded = text.trim();
  const props = new Map<string, string>();
  const options: Options = [];
  if (!decoded) return { props, options };
  const key = (k: string) => {
    const t = k.trim();
    if (!KEY_CHARS.test(t)) throw new ProtocolError(`Invalid chars in property name: ${t}`);
    return t;
  };
  const value = (v: string) => {
    const t = v.replace(/\\'/g, "'");
    if (!VALUE_CHARS.test(t)) throw new ProtocolError(`Invalid chars in property value: ${t}`);
    return t;
  };
  const keys: string[] = [];
  const values: string[] = [];
  let cut = decoded.indexOf("='");
  keys.push(key(cut < 0 ? decoded : decoded.slice(0, cut)));
  let rest = cut < 0 ? '' : decoded.slice(cut + 2);
  while ((cut = rest.indexOf("='")) >= 0) {
    const valueKey = rest.slice(0, cut);
    rest = rest.slice(cut + 2);
    const sep = valueKey.lastIndexOf("' ");
    values.push(value(sep < 0 ? '' : valueKey.slice(0, sep)));
    keys.push(key(sep < 0 ? valueKey : valueKey.slice(sep + 2)));
  }
  values.push(value(rest.slice(0, -1)));
  keys.forEach((k, i) => {
    if (k.startsWith('_')) options.push([k.slice(1), values[i] as string]);
    else props.set(k, values[i] as string);
  });
  return { props, options };
}

/** `BACKEND+PORT[:DEVICE_ID]` (`_` for `*`; `_______` for an unknown interface code). */
export function parseQarg(arg: string, devclass: string): VirtualDevice {
  const plus = arg.indexOf('+');
  // the reference's tuple unpacking fails without '+': not one of its errors, the connection is dropped
  if (plus < 0) throw new MalformedRequest(`device argument without '+': '${arg}'`);
  const backend = arg.slice(0, plus) === '_' ? ANY : arg.slice(0, plus);
  const identity = arg.slice(plus + 1).replace(/\+/g, ':');
  const colon = identity.indexOf(':');
  let portId = colon < 0 ? identity : identity.slice(0, colon);
  let deviceId = colon < 0 ? '' : identity.slice(colon + 1);
  if (portId === '_') portId = ANY;
  if (deviceId === '_') deviceId = ANY;
  deviceId = deviceId.replaceAll('_'.repeat(UNKNOWN_INTERFACE.length), UNKNOWN_INTERFACE);
  return { port: { backend, portId, devclass }, deviceId: deviceId || ANY };
}
