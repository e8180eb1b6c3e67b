// SPDX-License-Identifier: GPL-2.0-or-later
import type { StorageContext } from '../storage/pool.js';
import { storageContext } from '../storage/pools.js';

/** The context of one command's storage work (cancelled by `signal`). */
export const workContext = (signal?: AbortSignal): StorageContext => ({ ...storageContext(), signal });

