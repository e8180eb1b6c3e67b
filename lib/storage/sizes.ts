// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Sizes as qvm-volume reads them: plain digits are bytes; K/KB, M/MB,
 * G/GB, T/TB are powers of 1000; Ki/KiB, Mi/MiB, Gi/GiB, Ti/TiB powers of
 * 1024; any case; integer mantissa only.
 * Reference: qubesadmin/utils/__init__.py parse_size (K, M, G; T is ours).
 */
import { QubesValueError } from '../errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  K: 1e3,
  KB: 1e3,
  M: 1e6,
  MB: 1e6,
  G: 1e9,
  GB: 1e9,
  T: 1e12,
  TB: 1e12,
  KI: 1024,
  KIB: 1024,
  MI: 1024 ** 2,
  MIB: 1024 ** 2,
  GI: 1024 ** 3,
  GIB: 1024 ** 3,
  TI: 1024 ** 4,
  TIB: 1024 ** 4,
};

/** @throws QubesValueError "Invalid size: <INPUT UPPERCASED>." */
export function parseSize(text: string): number {
  const upper = text.trim().toUpperCase();
  const m = /^(\d+)\s*([A-Z]*)$/.exec(upper);
  const unit = m ? UNITS[m[2] as string] : undefined;
  if (!m || unit === undefined) throw new QubesValueError(`Invalid size: ${upper}.`);
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new QubesValueError(`Invalid size: ${upper}.`);
  return n;
}
