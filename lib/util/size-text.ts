// SPDX-License-Identifier: GPL-2.0-or-later
/** Sizes as the reference prints them: bytes below 1024, else one decimal KiB/MiB/GiB. */
export function sizeText(n: number): string {
  if (n < 1024) return String(n);
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
