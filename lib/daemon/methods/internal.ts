// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The internal socket's methods, for the /etc/qubes-rpc scripts
 * admin.vm.volume.Import and ImportWithSize (admin-api/qubes-rpc/): the
 * script asks ImportBegin for the size and the path to write, writes the
 * caller's data there itself, then calls ImportEnd with `ok` or
 * `fail\nMESSAGE`, whose reply is the reply to the caller. The volume's
 * import is held between the two (the pool's import hold, in this daemon).
 *
 * Reference: qubes-core-admin: qubes/api/internal.py (vm_volume_import,
 * vm_volume_import_end).
 */
import { ProtocolError, QubesError, QubesVMNotHaltedError } from '../../errors.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet, type QubeVolume } from '../../storage/qube-storage.js';
import { recordVolume } from '../../storage/volume-admin.js';
import { volumeAttr } from '../../vm/volume-config.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { validateNumber } from '../number-arg.js';

/** The volume the argument names; the reference's internal API words its refusal as a ProtocolError. */
async function volumeOf(call: Call): Promise<QubeVolume> {
  const names = call.dest.klass === 'AdminVM' ? [] : call.dest.volumeConfig.map((c) => volumeAttr(c, 'name'));
  if (!names.includes(call.arg)) throw new ProtocolError(`Argument not in ${call.dest.name} volumes`);
  return (await new PoolSet(call.app, storageContext(call.services.env)).qube(call.dest)).require(call.arg);
}

/** Sizes asked for by ImportBegin, recorded by a successful ImportEnd. */
const importing = new Map<string, number>();
const key = (call: Call) => `${call.dest.name}\0${call.arg}`;

async function importBegin(call: Call): Promise<string> {
  const qv = await volumeOf(call);
  const vmm = call.app.vmm;
  await vmm.refresh([call.dest]);
  if (vmm.info(call.dest).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${call.dest.name}'`);
  const size = call.payload.length ? validateNumber(call.payload, 'size of new data') : qv.volume.size;
  const path = await qv.pool.importData(qv.volume, size);
  if (path.includes(' ')) {
    await qv.pool.importDataEnd(qv.volume, false);
    throw new ProtocolError('Path contains whitespace');
  }
  importing.set(key(call), size);
  return `${size} ${path}`;
}

async function importEnd(call: Call): Promise<void> {
  const qv = await volumeOf(call);
  const success = call.payload.toString('latin1') === 'ok';
  const size = importing.get(key(call));
  importing.delete(key(call));
  await qv.pool.importDataEnd(qv.volume, success);
  if (!success) {
    const text = call.payload.toString('latin1');
    const nl = text.indexOf('\n');
    throw new QubesError(`Data import failed: ${nl < 0 ? '' : text.slice(nl + 1)}`);
  }
  if (size !== undefined && size !== qv.volume.size) await recordVolume(call.services.store, call.dest.name, call.arg, [['size', String(size)]]);
}

export const INTERNAL_METHODS: MethodDecl[] = [
  method('internal.vm.volume.ImportBegin', { scope: 'local', destAdminvm: null, wantsArg: true, wantsPayload: null, write: true }, importBegin),
  method('internal.vm.volume.ImportEnd', { scope: 'local', destAdminvm: null, wantsArg: true, wantsPayload: true }, importEnd),
];
