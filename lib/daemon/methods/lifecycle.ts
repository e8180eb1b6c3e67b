// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Starting and stopping qubes, over lib/ops/lifecycle.ts as qvm-start,
 * qvm-shutdown, qvm-kill, qvm-pause and qvm-unpause; and the console's
 * terminal.
 *
 * dom0 is refused first in the reference's words ("Cannot ... Dom0 fake
 * domain!"). A failed start at libvirt is a QubesException "Start failed:
 * ..." as there; starting a qube that is not halted succeeds and does
 * nothing, as there. Suspend pauses the qube: the reference asks the guest to
 * suspend to RAM and pauses it when the guest cannot, which without a
 * guest agent is always the case here; Resume unpauses it, as the
 * reference does for a qube that is not suspended to RAM.
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_start ... vm_kill,
 * vm_console), qubes/vm/adminvm.py, qubes/vm/qubesvm.py.
 */
import { LibvirtError, ProtocolError, QubesError, QubesVMAlreadyStartedError, QubesVMError, QubesVMNotHaltedError, QubesVMNotRunningError } from '../../errors.js';
import { Lifecycle } from '../../ops/lifecycle.js';
import { isRunningState } from '../../vmm/power-state.js';
import { callSession } from '../call-session.js';
import { method, type Call, type MethodDecl } from '../method.js';

function lifecycle(call: Call): Lifecycle {
  return new Lifecycle(callSession(call));
}

/** dom0 cannot be started, stopped or suspended: the reference's refusal. */
function refuseDom0(call: Call, what: string, error: (m: string) => QubesError = (m) => new QubesVMError(m)): void {
  if (call.dest.klass === 'AdminVM') throw error(`Cannot ${what} Dom0 fake domain!`);
}

async function start(call: Call): Promise<void> {
  refuseDom0(call, 'start', (m) => new QubesVMNotHaltedError(m));
  try {
    await lifecycle(call).start(call.dest.name);
  } catch (e) {
    // the reference's start of a qube that is not halted does nothing and succeeds
    if (e instanceof QubesVMAlreadyStartedError) return;
    if (e instanceof LibvirtError)
      throw new QubesError(`Start failed: ${e.message}, see /var/log/libvirt/libxl/libxl-driver.log for details`);
    throw e;
  }
}

const SHUTDOWN_ARGS = ['force', 'wait'];

async function shutdown(call: Call): Promise<void> {
  const args = call.arg ? call.arg.split('+') : [];
  if (!args.every((a) => SHUTDOWN_ARGS.includes(a))) throw new ProtocolError(`Argument must match: ${SHUTDOWN_ARGS.join(', ')}`);
  refuseDom0(call, 'shutdown');
  await lifecycle(call).shutdown(call.dest.name, { force: args.includes('force'), wait: args.includes('wait') });
}

async function kill(call: Call): Promise<void> {
  refuseDom0(call, 'kill');
  await lifecycle(call).kill(call.dest.name);
}

async function suspend(call: Call): Promise<void> {
  refuseDom0(call, 'suspend');
  await lifecycle(call).pause(call.dest.name);
}

/** The pseudo-terminal of the qube's console (the /etc/qubes-rpc script connects to it). */
async function consoleTty(call: Call): Promise<string> {
  const vmm = call.app.vmm;
  if (call.dest.klass !== 'AdminVM' && !vmm.offline) await vmm.refresh([call.dest]);
  const state = vmm.info(call.dest).state;
  if (call.dest.klass === 'AdminVM' || vmm.offline || !isRunningState(state))
    throw new QubesVMNotRunningError(`Domain not running (either powered off or paused): '${call.dest.name}'`);
  const conn = vmm.libvirt();
  const xml = await conn.getXmlDesc(await conn.lookupByUuid(call.dest.uuid as string));
  return /<console\b[^>]*\btty=['"]([^'"]*)['"]/.exec(xml)?.[1] ?? '';
}

const run = { scope: 'local', destAdminvm: null, wantsPayload: false, execute: true } as const;

export const LIFECYCLE_METHODS: MethodDecl[] = [
  method('admin.vm.Start', { ...run, wantsArg: false }, start),
  method('admin.vm.Shutdown', { ...run, wantsArg: null }, shutdown),
  method('admin.vm.Pause', { ...run, wantsArg: false }, (call) => lifecycle(call).pause(call.dest.name)),
  method('admin.vm.Unpause', { ...run, wantsArg: false }, (call) => lifecycle(call).unpause(call.dest.name)),
  method('admin.vm.Suspend', { ...run, wantsArg: false }, suspend),
  method('admin.vm.Resume', { ...run, wantsArg: false }, (call) => lifecycle(call).unpause(call.dest.name)),
  method('admin.vm.Kill', { ...run, wantsArg: false }, kill),
  method('admin.vm.Console', { scope: 'local', destAdminvm: null, wantsArg: false, wantsPayload: false, write: true }, consoleTty),
];
