// SPDX-License-Identifier: GPL-2.0-or-later
/** Plain codepoint order, as every qube listing and the store writer sort names (spec §7.2). */
export const codepointOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
