// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * admin.label.*: List (by index), Get (the colour, `0xRRGGBB`), Index,
 * Create (a custom label after the eight default ones), Remove (custom
 * labels no qube uses).
 *
 * Reference: qubes-core-admin: qubes/api/admin.py (label_*),
 * qubes/utils.py (validate_label_name, validate_label_value).
 */
import { MAX_DEFAULT_LABEL } from '../../app/labels.js';
import { ProtocolError, QubesInvalidLabelError, QubesInvalidLabelValueError, QubesLabelInUseError } from '../../errors.js';
import { method, type MethodDecl } from '../method.js';

const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.';

/** The reference's validate_label_name (also for Create's `label=`). @throws QubesInvalidLabelError */
export function validateLabelName(untrusted: string, creation = false): string {
  if (!untrusted) throw new QubesInvalidLabelError('Label name must be set');
  if (creation && /^\d+$/.test(untrusted)) throw new QubesInvalidLabelError('Label must not be a digit');
  if (![...untrusted].every((c) => SAFE.includes(c))) throw new QubesInvalidLabelError(`Label must be in safe set: ${SAFE}`);
  return untrusted;
}

function validateColor(untrusted: Buffer): string {
  if (untrusted.length === 0) throw new QubesInvalidLabelValueError('Label value must be set');
  const raw = untrusted.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(raw)) throw new QubesInvalidLabelValueError('Label value must be encoded in ASCII');
  const v = raw.trim();
  if (v.length !== 8) throw new QubesInvalidLabelValueError('Label value must have length of 8');
  if (!v.startsWith('0x')) throw new QubesInvalidLabelValueError('Label value must start with: 0x');
  if (!/^[0-9a-fA-F]{6}$/.test(v.slice(2)))
    throw new QubesInvalidLabelValueError('Label value must only contain hexadecimal digits after prefix: 0123456789abcdefABCDEF');
  return v;
}

const global = { scope: 'global', destAdminvm: true } as const;

export const LABEL_METHODS: MethodDecl[] = [
  method('admin.label.List', { ...global, wantsArg: false, wantsPayload: false }, (call) => call.app.labels.names().map((n) => `${n}\n`).join('')),
  method('admin.label.Get', { ...global, wantsArg: true, wantsPayload: false }, (call) => call.app.labels.get(validateLabelName(call.arg)).color),
  method('admin.label.Index', { ...global, wantsArg: true, wantsPayload: false }, (call) => String(call.app.labels.get(validateLabelName(call.arg)).index)),
  method('admin.label.Create', { ...global, wantsArg: true, wantsPayload: true, write: true }, async (call) => {
    const name = validateLabelName(call.arg, true);
    const color = validateColor(call.payload);
    await call.write((app) => {
      if (app.labels.has(name)) throw new QubesLabelInUseError(`'${name}'`);
      app.labels.addCustom(name, color);
    });
  }),
  method('admin.label.Remove', { ...global, wantsArg: true, wantsPayload: false, write: true }, async (call) => {
    validateLabelName(call.arg);
    await call.write((app) => {
      const label = app.labels.get(call.arg);
      if (label.index <= MAX_DEFAULT_LABEL) throw new ProtocolError('Can only remove custom labels');
      // the reference names the label by its Python repr here
      if (app.domains.all().some((vm) => vm.props.get('label') === label.name))
        throw new QubesLabelInUseError(`Label(${label.index}, '${label.color}', '${label.name}')`);
      app.labels.remove(label);
    });
  }),
];
