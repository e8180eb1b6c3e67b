// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The misc socket's methods (qubesd.misc.sock): what a qube's agent tells
 * dom0 about itself through qrexec, the calling qube being the request's
 * source and the destination dom0.
 *
 *   qubes.FeaturesRequest  the qube's QubesDB entries under
 *                          /features-request/, applied by the rules of
 *                          lib/vm/feature-requests.ts
 *   qubes.NotifyTools      the older form of Qubes Windows Tools: the five
 *                          entries under /qubes-tools/, letters and digits
 *                          only, through the same rules
 *   qubes.NotifyUpdates    a count of available updates (payload): the
 *                          `updates-available`, `last-updates-check` and
 *                          `last-update` features of the qube, or of the
 *                          nearest updateable template up its chain
 *
 * A value outside the allowed characters refuses the whole request
 * (ProtocolError) before anything changes; a value that is not ASCII, or a
 * qube without a QubesDB daemon, ends the connection without a reply, as
 * the reference's failing decode or missing connection does.
 * qrexec's policy decides who may call these; the reference asks nothing
 * else, so the socket lets any qube of the store call them.
 *
 * Reference: qubes-core-admin: qubes/api/misc.py.
 */
import { nowMs } from '../../config.js';
import { DisconnectedError, ProtocolError } from '../../errors.js';
import { sessionPools } from '../../ops/session-storage.js';
import { applyFeatureRequest, REQUEST_VALUE_RE } from '../../vm/feature-requests.js';
import { featureIsTrue } from '../../vm/features.js';
import type { QubesVM } from '../../vm/qubes-vm.js';
import { QubesDbClient } from '../../vmm/qubesdb/client.js';
import { isRunningState } from '../../vmm/power-state.js';
import { MalformedRequest } from '../malformed.js';
import { callSession } from '../call-session.js';
import { method, type Call, type MethodDecl } from '../method.js';

const FEATURES_REQUEST = '/features-request/';
const TOOLS = '/qubes-tools/';
const TOOLS_ENTRIES = ['qrexec', 'gui', 'gui-emulated', 'default-user', 'os'];
const LETTERS_DIGITS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** The allowed characters, spelled out in the refusal as the reference does. */
const SAFE_TEXT = `${LETTERS_DIGITS}-.,_= `;
const ALNUM_RE = /^[A-Za-z0-9]*$/;

/** Python's strict ASCII decode: anything else fails the request without an answer. */
function ascii(b: Buffer, what: string): string {
  const s = b.toString('latin1');
  if (!/^[\x00-\x7f]*$/.test(s)) throw new MalformedRequest(`${what} is not ASCII`);
  return s;
}

/**
 * Read the calling qube's QubesDB entries (connection closed after). A
 * qube whose QubesDB does not answer gets no reply: the reference fails on
 * its missing connection the same way.
 */
async function withQubesDb<T>(call: Call, read: (qdb: QubesDbClient) => Promise<T>): Promise<T> {
  let qdb: QubesDbClient;
  try {
    qdb = await QubesDbClient.open(call.src.name, { env: call.services.env });
  } catch (e) {
    if (e instanceof DisconnectedError) throw new MalformedRequest(`no QubesDB daemon answers for ${call.src.name}`);
    throw e;
  }
  try {
    return await read(qdb);
  } finally {
    qdb.close();
  }
}

/** Apply a request to the calling qube under the store's lock; what was ignored goes to the log. */
async function apply(call: Call, request: Record<string, string>): Promise<void> {
  const log = await call.write((app) => {
    const vm = app.domains.get(call.src.name);
    return vm ? applyFeatureRequest(vm, request) : [];
  });
  for (const line of log) call.services.warn(line);
}

async function featuresRequest(call: Call): Promise<void> {
  const entries = await withQubesDb(call, (qdb) => qdb.multireadBytes(FEATURES_REQUEST));
  const request: Record<string, string> = {};
  for (const [key, value] of entries) request[key.slice(FEATURES_REQUEST.length)] = ascii(value, `${key} of ${call.src.name}`);
  for (const value of Object.values(request)) if (!REQUEST_VALUE_RE.test(value)) throw new ProtocolError(`Value outside safe set: ${SAFE_TEXT}`);
  await apply(call, request);
}

async function notifyTools(call: Call): Promise<void> {
  const request: Record<string, string> = {};
  await withQubesDb(call, async (qdb) => {
    for (const name of TOOLS_ENTRIES) {
      const value = await qdb.readBytes(TOOLS + name);
      if (!value || value.length === 0) continue;
      const text = ascii(value, `${TOOLS}${name} of ${call.src.name}`);
      if (!ALNUM_RE.test(text)) throw new ProtocolError(`Value outside safe set: ${LETTERS_DIGITS}`);
      request[name] = text;
    }
  });
  await apply(call, request);
}

/** `YYYY-MM-DD HH:MM:SS` in local time, as the reference records update checks. */
function localStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function recordUpdates(vm: QubesVM, available: boolean, nowMs: number): void {
  const now = localStamp(new Date(nowMs));
  if (featureIsTrue(vm.features.get('updates-available')) && !available) vm.features.set('last-update', now);
  vm.features.set('updates-available', available);
  vm.features.set('last-updates-check', now);
}

/** Whether a running qube's volumes lag behind their sources (its template was updated since it started). */
async function hasOutdatedVolumes(call: Call, vm: QubesVM): Promise<boolean> {
  const storage = await sessionPools(callSession(call), call.app).qube(vm);
  for (const v of storage.volumes) if (await v.pool.isOutdated(v.volume)) return true;
  return false;
}

async function notifyUpdates(call: Call): Promise<void> {
  // bytes.strip() and isdigit(): ASCII whitespace around, ASCII digits only
  const text = call.payload.toString('latin1').replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
  if (!/^[0-9]+$/.test(text)) throw new ProtocolError('Update count is not a digit');
  const count = Number(text);
  const src = call.src;
  let template = src.templateVm();
  while (template !== null && template.get('updateable') !== true) template = template.templateVm();
  let target: QubesVM | undefined;
  if (src.get('updateable') === true) target = src;
  else if (template !== null) {
    const vmm = call.app.vmm;
    await vmm.refresh([template, src]);
    // a running template reports for itself; "no updates" from its qube says nothing
    if (isRunningState(vmm.info(template).state) || count === 0) return;
    // an outdated qube has probably seen updates its template installed since
    if (isRunningState(vmm.info(src).state) && (await hasOutdatedVolumes(call, src))) return;
    target = template;
  }
  if (!target) return;
  const name = target.name;
  await call.write((app) => {
    const vm = app.domains.get(name);
    if (vm) recordUpdates(vm, count > 0, nowMs(call.services.env));
  });
}

const fromQube = { scope: 'local', destAdminvm: true, wantsArg: false } as const;

export const MISC_METHODS: MethodDecl[] = [
  method('qubes.FeaturesRequest', { ...fromQube, wantsPayload: false }, featuresRequest),
  method('qubes.NotifyTools', { ...fromQube, wantsPayload: false }, notifyTools),
  method('qubes.NotifyUpdates', { ...fromQube, wantsPayload: true }, notifyUpdates),
];
