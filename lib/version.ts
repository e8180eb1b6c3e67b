// SPDX-License-Identifier: GPL-2.0-or-later
/** The suite's version, shown by `--version`; a test keeps it equal to package.json's. */
export const VERSION = '0.1.0';
