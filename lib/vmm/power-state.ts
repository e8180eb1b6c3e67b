// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * What a power state means for commands: a qube "is running" when its
 * domain exists in any live state (paused, suspended, shutting down and
 * dying included), as the reference's is_running() follows libvirt's
 * isActive(). Reference: qubes/vm/qubesvm.py; spec vmm.md §3.1.
 */
import type { PowerState } from './vmm.js';

export const isRunningState = (s: PowerState): boolean => s !== 'Halted' && s !== 'NA';
