// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Names from the pci.ids / usb.ids databases (vendors, devices, classes),
 * when one is installed. Without one every lookup answers undefined and
 * callers show numbers. The files are read once, on first use.
 *
 * Where: `$QUBES_HWDATA_DIR` (tests), else /usr/share/hwdata (the
 * reference's path; Debian package `hwdata`), else /usr/share/misc
 * (Debian package `pci.ids` / `usb.ids`).
 *
 * Reference: qubes-core-admin: qubes/device_protocol.py
 * DeviceInterface._load_classes; shared/spec/firewall-and-devices.md B2, B7.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hwdataDirs, type Env } from '../config.js';

export type IdsBus = 'pci' | 'usb';

interface IdsDb {
  vendors: Map<string, string>;
  devices: Map<string, string>;
  /** Keys as the reference builds them: `CC****`, `CCSS**`, `CCSSII`. */
  classes: Map<string, string>;
}

const EMPTY: IdsDb = { vendors: new Map(), devices: new Map(), classes: new Map() };

export function idsFile(bus: IdsBus, env: Env): string | undefined {
  return hwdataDirs(env).map((d) => path.join(d, `${bus}.ids`)).find((f) => fs.existsSync(f));
}

/** Parse the ids text: vendor and device lines, then the `C` class section. */
export function parseIds(text: string): IdsDb {
  const db: IdsDb = { vendors: new Map(), devices: new Map(), classes: new Map() };
  let vendor: string | undefined;
  let klass: string | undefined;
  let subclass: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    let m: RegExpMatchArray | null;
    if ((m = /^C ([0-9a-f]{2})\s+(.*)$/i.exec(line))) {
      klass = (m[1] as string).toLowerCase();
      subclass = undefined;
      vendor = undefined;
      db.classes.set(`${klass}****`, m[2] as string);
    } else if (klass !== undefined && (m = /^\t\t([0-9a-f]{2})\s+(.*)$/i.exec(line))) {
      if (subclass !== undefined) db.classes.set(`${klass}${subclass}${(m[1] as string).toLowerCase()}`, m[2] as string);
    } else if (klass !== undefined && (m = /^\t([0-9a-f]{2})\s+(.*)$/i.exec(line))) {
      subclass = (m[1] as string).toLowerCase();
      db.classes.set(`${klass}${subclass}**`, m[2] as string);
    } else if ((m = /^([0-9a-f]{4})\s+(.*)$/i.exec(line))) {
      klass = undefined;
      vendor = (m[1] as string).toLowerCase();
      db.vendors.set(vendor, m[2] as string);
    } else if (vendor !== undefined && (m = /^\t([0-9a-f]{4})\s+(.*)$/i.exec(line))) {
      db.devices.set(`${vendor}:${(m[1] as string).toLowerCase()}`, m[2] as string);
    } else if (!line.startsWith('\t')) {
      // another section (AT, HID, R, ...): nothing we look up
      vendor = undefined;
      klass = undefined;
    }
  }
  return db;
}

/** Lookups by hex id without `0x` (any case). */
export class HwData {
  private readonly cache = new Map<IdsBus, IdsDb>();
  constructor(private readonly env: Env) {}

  private db(bus: IdsBus): IdsDb {
    let db = this.cache.get(bus);
    if (!db) {
      const file = idsFile(bus, this.env);
      try {
        db = file ? parseIds(fs.readFileSync(file, 'latin1')) : EMPTY;
      } catch {
        db = EMPTY;
      }
      this.cache.set(bus, db);
    }
    return db;
  }

  vendor(bus: IdsBus, vendorId: string): string | undefined {
    return this.db(bus).vendors.get(vendorId.toLowerCase());
  }
  device(bus: IdsBus, vendorId: string, deviceId: string): string | undefined {
    return this.db(bus).devices.get(`${vendorId.toLowerCase()}:${deviceId.toLowerCase()}`);
  }
  /** Key `CC****`, `CCSS**` or `CCSSII`. */
  klass(bus: IdsBus, key: string): string | undefined {
    return this.db(bus).classes.get(key.toLowerCase());
  }
}
