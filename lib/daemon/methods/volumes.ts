// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.vm.volume.List (the qube's volume names in its configuration's
 * order; none for dom0), Info (`KEY=VALUE` lines in the reference's order)
 * and ListSnapshots (revision ids, oldest first), over the same storage
 * code as qvm-volume; and the changes, over the same functions as
 * qvm-volume's subcommands (lib/storage/volume-admin.ts): Revert, Resize,
 * Clear, Set.rw / Set.revisions_to_keep / Set.ephemeral, and the copy of
 * one volume's data into another in two calls (CloneFrom hands out a
 * token for the source, CloneTo names it).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (vm_volume_*).
 */
import crypto from 'node:crypto';
import { ProtocolError, QubesError, QubesVMNotHaltedError, QubesVolumeCopyTokenNotFoundError } from '../../errors.js';
import { storageContext } from '../../storage/pools.js';
import { PoolSet } from '../../storage/qube-storage.js';
import {
  clearVolume,
  cloneVolume,
  configureVolume,
  resizeVolume,
  revertVolume,
  revisionIds,
  resolveVolume,
  volumeInfo,
  type VolumeRef,
} from '../../storage/volume-admin.js';
import { volumeAttr } from '../../vm/volume-config.js';
import { validateBool } from '../bool-payload.js';
import { MalformedRequest } from '../malformed.js';
import { method, type Call, type MethodDecl } from '../method.js';
import { validateNumber } from '../number-arg.js';
import { enforceArg } from './pools.js';
const { randomInt } = crypto;

const local = { scope: 'local', destAdminvm: null } as const;

const volumeNames = (call: Call) => (call.dest.klass === 'AdminVM' ? [] : call.dest.volumeConfig.map((c) => volumeAttr(c, 'name') ?? ''));

/** The volume the argument names, after the reference's check that it is one of the qube's. */
async function volumeOf(call: Call, pools = new PoolSet(call.app, storageContext(call.services.env))): Promise<VolumeRef> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  return { vm: call.dest, name: call.arg, qv: (await pools.qube(call.dest)).require(call.arg), pools };
}


/** Python's bytes.strip(): ASCII whitespace at both ends. */
const strip = (b: Buffer) => b.toString('latin1').replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');

/** The payload as ASCII; bytes beyond fail the reference's decode (not one of its errors): dropped. */
function asciiPayload(call: Call): string {
  const s = call.payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(s)) throw new MalformedRequest('payload is not ASCII');
  return s;
}

const REVISION_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.';

async function revert(call: Call): Promise<void> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const revision = asciiPayload(call).replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
  if (![...revision].every((c) => REVISION_CHARS.includes(c)))
    throw new ProtocolError(`Revision name must be in safe set: ${REVISION_CHARS}`);
  const ref = await volumeOf(call);
  // the reference's QubesVolumeRevisionNotFoundError is a KeyError, not one of its errors: dropped
  if (!(await revisionIds(ref)).includes(revision)) throw new MalformedRequest(`no revision ${revision} of ${call.dest.name}:${call.arg}`);
  await revertVolume(ref, revision);
}

/**
 * Tokens of CloneFrom, each naming the source volume until one CloneTo
 * uses it. They live as long as this daemon, as the reference's
 * (kept on its app object, never saved).
 */
const pendingClones = new Map<string, { vm: string; volume: string }>();
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function cloneFrom(call: Call): string {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const token = Array.from({ length: 32 }, () => TOKEN_CHARS[randomInt(TOKEN_CHARS.length)]).join('');
  if (pendingClones.has(token)) throw new QubesError(`Domain volume is being cloned already: '${call.dest.name}':'${call.arg}'`);
  pendingClones.set(token, { vm: call.dest.name, volume: call.arg });
  return token;
}

async function cloneTo(call: Call): Promise<void> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const text = call.payload.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(text)) throw new ProtocolError('Token contains non-ASCII characters');
  const token = strip(call.payload);
  const source = pendingClones.get(token);
  if (!source) throw new QubesVolumeCopyTokenNotFoundError('Token to clone volume of qube was not found');
  pendingClones.delete(token);
  const pools = new PoolSet(call.app, storageContext(call.services.env));
  let src: VolumeRef;
  try {
    src = await resolveVolume(call.app, source.vm, source.volume, pools);
  } catch (e) {
    // the reference's QubesVolumeNotFoundError is a KeyError, not one of its errors: dropped
    if (e instanceof QubesError) throw new MalformedRequest(`the volume ${source.vm}:${source.volume} is gone`);
    throw e;
  }
  await cloneVolume(call.services.store, src, await volumeOf(call, pools));
}

async function resize(call: Call): Promise<void> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const size = validateNumber(Buffer.from(strip(call.payload), 'latin1'), 'volume size');
  await resizeVolume(call.services.store, await volumeOf(call), size);
}

async function clear(call: Call): Promise<void> {
  await clearVolume(call.services.store, await volumeOf(call));
}

/** Set.rw and Set.ephemeral: a boolean payload (the reference's property.bool). */
function setBool(prop: 'rw' | 'ephemeral') {
  return async (call: Call): Promise<void> => {
    enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
    const on = validateBool(call.payload);
    const ref = await volumeOf(call);
    if (prop === 'rw') {
      await call.app.vmm.refresh([call.dest]);
      if (call.app.vmm.info(call.dest).state !== 'Halted') throw new QubesVMNotHaltedError(`Domain is not powered off: '${call.dest.name}'`);
    }
    await configureVolume(call.services.store, ref, prop, on ? 'True' : 'False');
  };
}

async function setRevisionsToKeep(call: Call): Promise<void> {
  enforceArg(call, volumeNames(call), `${call.dest.name} volumes`);
  const n = validateNumber(call.payload, 'revisions to keep', true);
  await configureVolume(call.services.store, await volumeOf(call), 'revisions_to_keep', String(n));
}

const change = { ...local, wantsArg: true, write: true } as const;

export const VOLUME_METHODS: MethodDecl[] = [
  method('admin.vm.volume.List', { ...local, wantsArg: false, wantsPayload: false }, (call) => volumeNames(call).map((n) => `${n}\n`).join('')),
  method('admin.vm.volume.Info', { ...local, wantsArg: true, wantsPayload: false }, async (call) =>
    (await volumeInfo(await volumeOf(call))).map(([k, v]) => `${k}=${v}\n`).join(''),
  ),
  method('admin.vm.volume.ListSnapshots', { ...local, wantsArg: true, wantsPayload: false }, async (call) =>
    (await revisionIds(await volumeOf(call))).map((r) => `${r}\n`).join(''),
  ),
  method('admin.vm.volume.Revert', { ...change, wantsPayload: true }, revert),
  method('admin.vm.volume.CloneFrom', { ...change, wantsPayload: false }, cloneFrom),
  method('admin.vm.volume.CloneTo', { ...change, wantsPayload: true }, cloneTo),
  method('admin.vm.volume.Resize', { ...change, wantsPayload: true }, resize),
  method('admin.vm.volume.Clear', { ...change, wantsPayload: false }, clear),
  method('admin.vm.volume.Set.revisions_to_keep', { ...change, wantsPayload: true }, setRevisionsToKeep),
  method('admin.vm.volume.Set.rw', { ...change, wantsPayload: true }, setBool('rw')),
  method('admin.vm.volume.Set.ephemeral', { ...change, wantsPayload: true }, setBool('ephemeral')),
];
