// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The files that say a volume is in use by a running qube:
 * `<runDir>/volume-running-<pool>:<vid>` with `-` doubled, then `/` as `-`
 * (the reference's names, so its tools and ours agree).
 * Reference: qubes-core-admin: qubes/storage/__init__.py (core-admin@1ad5da3f).
 */
import path from 'node:path';

/** `<pool>:<vid>` as one file name: `-` doubled, then `/` as `-` (unambiguous, the reference's escaping). */
export const volumeFileName = (pool: string, vid: string): string => `${pool}:${vid}`.replace(/-/g, '--').replace(/\//g, '-');

export const runningMarkerName = (pool: string, vid: string): string => `volume-running-${volumeFileName(pool, vid)}`;

export const runningMarker = (runDir: string, pool: string, vid: string): string => path.join(runDir, runningMarkerName(pool, vid));
