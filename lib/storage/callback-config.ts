// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The configuration of callback pools (`/etc/qubes_callback.json`, a JSON
 * object keyed by `conf_id`) and the text forms the callback commands get
 * as the reference makes them: the entry as Python's
 * `json.dumps(entry, sort_keys=True, indent=2)` writes it, and arguments
 * quoted as `shlex.quote` quotes them, so scripts written for the
 * reference parse what we pass unchanged.
 *
 * Reference: qubes-core-admin: qubes/storage/callback.py,
 * callback.json.example; spec storage.md §3.6.
 */
import fs from 'node:fs';
import { Pool } from '../app/app.js';
import { StoragePoolError } from '../errors.js';
import { ioReason } from '../util/io-error.js';
import { isDriverName, type DriverName } from './driver-names.js';

/** One `conf_id` entry, checked. */
export interface CallbackConfig {
  confId: string;
  /** The entry as read (event names → commands, `cmd`, `signal_back`, ...). */
  entry: Record<string, unknown>;
  /** The driver of the wrapped pool. */
  bdriver: DriverName;
  /** Its options (`bdriver_args`), as qubes.xml would hold them. */
  bdriverArgs: [string, string][];
  /** The entry as the generic `cmd` receives it (Python's json.dumps form). */
  text: string;
  /** `signal_back: true` (exactly true): a `SIGNAL_setup` line on a callback's stdout sets the wrapped pool up again. */
  signalBack: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A bdriver_args value as qubes.xml would hold it (Python's str() of a bool is True/False). */
function argText(confId: string, key: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  throw new StoragePoolError(`bdriver_args ${key} of the conf_id ${confId} must be a string, a number or a boolean`);
}

/**
 * The entry `confId` of the configuration file `file`.
 * @throws StoragePoolError when the file cannot be read or parsed, or the
 *   entry is missing, has no known `bdriver` or malformed `bdriver_args`
 */
export function readCallbackConfig(file: string, confId: string): CallbackConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new StoragePoolError(`Cannot read the callback configuration ${file}: ${ioReason(e)}`);
  }
  let all: unknown;
  try {
    all = JSON.parse(text);
  } catch (e) {
    throw new StoragePoolError(`The callback configuration ${file} is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(all)) throw new StoragePoolError(`The file ${file} is supposed to define a dict.`);
  if (!Object.hasOwn(all, confId)) throw new StoragePoolError(`The specified conf_id ${confId} could not be found inside ${file}.`);
  const entry = all[confId];
  if (!isObject(entry)) throw new StoragePoolError(`The conf_id ${confId} inside ${file} is not a dict.`);
  if (!Object.hasOwn(entry, 'bdriver')) throw new StoragePoolError(`Missing bdriver for the conf_id ${confId} inside ${file}.`);
  const bdriver = entry.bdriver;
  if (typeof bdriver !== 'string' || !isDriverName(bdriver)) throw new StoragePoolError(`The driver ${String(bdriver)} was not found on your system.`);
  const args = entry.bdriver_args ?? {};
  if (!isObject(args)) throw new StoragePoolError(`bdriver_args of the conf_id ${confId} inside ${file} is not a dict.`);
  if (Object.hasOwn(args, 'name') || Object.hasOwn(args, 'driver'))
    throw new StoragePoolError(`bdriver_args of the conf_id ${confId} must not set name or driver (the pool's own)`);
  return {
    confId,
    entry,
    bdriver,
    bdriverArgs: Object.entries(args).map(([k, v]) => [k, argText(confId, k, v)]),
    text: pythonJson(entry),
    signalBack: entry.signal_back === true,
  };
}

/** The record of the pool a callback pool wraps: the bdriver with its bdriver_args, under the callback pool's name. */
export function wrappedRecord(name: string, conf: CallbackConfig): Pool {
  return new Pool([['name', name], ['driver', conf.bdriver], ...conf.bdriverArgs]);
}

/**
 * The pool whose driver makes a pool's volumes: through callback pools
 * (nested ones too) the pool they wrap, else the pool itself.
 * @throws StoragePoolError for configuration errors and a callback pool that wraps itself
 */
export function namingPool(record: Pool, file: string): Pool {
  let r = record;
  const seen = new Set<string>();
  while (r.driver === 'callback') {
    const confId = r.attr('conf_id') ?? '';
    if (seen.has(confId)) throw new StoragePoolError(`The callback pool ${record.name} wraps itself (conf_id ${confId} inside ${file})`);
    seen.add(confId);
    r = wrappedRecord(record.name, readCallbackConfig(file, confId));
  }
  return r;
}

/** Python's json string escaping with ensure_ascii: short escapes, everything outside space..~ as \uXXXX. */
function pythonString(s: string): string {
  const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    const code = s.charCodeAt(i);
    if (short[c] !== undefined) out += short[c];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/**
 * Python's float and int forms: exponents have at least two digits
 * (`1e-07`). A number written `1.0` in the file reads as 1 here and is
 * passed on as `1` (the reference would write `1.0`).
 */
function pythonNumber(n: number): string {
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** `json.dumps(value, sort_keys=True, indent=2)` of Python (ensure_ascii, `,` and `: ` separators). */
export function pythonJson(value: unknown, level = 0): string {
  const pad = (l: number) => '  '.repeat(l);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => pad(level + 1) + pythonJson(v, level + 1)).join(',\n')}\n${pad(level)}]`;
  }
  const keys = Object.keys(value as object).sort();
  if (keys.length === 0) return '{}';
  const rows = keys.map((k) => `${pad(level + 1)}${pythonString(k)}: ${pythonJson((value as Record<string, unknown>)[k], level + 1)}`);
  return `{\n${rows.join(',\n')}\n${pad(level)}}`;
}

/** Python's shlex.quote: words of safe characters as they are, everything else in single quotes. */
export function shellQuote(s: string): string {
  if (s === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}
