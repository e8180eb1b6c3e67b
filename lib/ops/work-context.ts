// SPDX-License-Identifier: GPL-2.0-or-later
import type { StorageContext } from '../storage/pool.js';

/** The context of one command's storage work: its session's (session-storage.ts), cancelled by `signal`. */
export const workContext = (base: StorageContext, signal?: AbortSignal): StorageContext => ({ ...base, signal });
