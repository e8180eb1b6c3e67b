// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * One request, from its parsed frame to its reply, in the reference's
 * order: source and destination qubes, method, authorisation, then the
 * method's own argument, payload and destination checks, then its handler.
 *
 * Outcomes: a reply (success or error frame; an error frame may also
 * follow the events of a stream, which the reference ends that way), or
 * `drop` (close without a reply) for what the reference does not answer:
 * bytes that are not ASCII where names are expected, and any failure that
 * is not one of the library's errors (a bug in a handler). A bug is logged with its stack and
 * never takes the daemon down.
 */
import type { Qubes } from '../app/app.js';
import { PermissionDenied, ProtocolError, QubesError, QubesVMInvalidUUIDError } from '../errors.js';
import { validateVmName } from '../vm/names.js';
import type { QubesVM } from '../vm/qubes-vm.js';
import { wireClassName } from './error-names.js';
import { MalformedRequest } from './malformed.js';
import { vmGone } from './vm-ref.js';
import type { Call, DaemonServices, MethodDecl } from './method.js';
import type { AdminPermission } from './permission.js';
import type { StoreView } from './store-view.js';
import { errorReply, eventFrame, okReply, type EventFields, type Request } from './wire.js';

/** A reply, with the refusal to log when it is one the reference logs (a malformed or forbidden call); a drop; or a finished stream. */
export type Outcome = { reply: Buffer; refused?: string } | { drop: true; reason: string; error?: unknown } | { streamed: true };

/** Thrown for input the reference cannot decode: answered by dropping the connection. */
class UndecodableError extends Error {}

const ASCII_RE = /^[\x00-\x7f]*$/;

function ascii(b: Buffer, what: string): string {
  const s = b.toString('latin1');
  if (!ASCII_RE.test(s)) throw new UndecodableError(`${what} is not ASCII`);
  return s;
}

const UUID_REF_RE = /^uuid:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]*/;

/** A qube named by the request: `uuid:UUID` or a name. Reference: qubes/api/__init__.py decode_vm. */
export function decodeVm(untrusted: Buffer, app: Qubes): QubesVM {
  const text = ascii(untrusted, 'qube name');
  if (text.startsWith('uuid:')) {
    if (text.length !== 41 || !UUID_REF_RE.test(text)) throw new QubesVMInvalidUUIDError(text.slice(5));
    const uuid = text.slice(5);
    const vm = app.domains.all().find((v) => v.uuid === uuid);
    if (!vm) throw vmGone(text);
    return vm;
  }
  validateVmName(text);
  const vm = app.domains.get(text);
  if (!vm) throw vmGone(text);
  return vm;
}

/** The framing checks every method declares (reference: AbstractQubesAPI.execute). */
function checkDeclared(m: MethodDecl, arg: string, payload: Buffer, dest: QubesVM): void {
  if (m.wantsPayload === true && payload.length === 0) throw new ProtocolError('expected payload');
  if (m.wantsPayload === false && payload.length > 0) throw new ProtocolError('unexpected payload');
  if (m.wantsArg === true && !arg) throw new ProtocolError('expected an argument');
  if (m.wantsArg === false && arg) throw new ProtocolError('unexpected argument');
  if (m.destAdminvm === true && dest.klass !== 'AdminVM') throw new ProtocolError('expected destination to be AdminVM');
  if (m.destAdminvm === false && dest.klass === 'AdminVM') throw new ProtocolError('expected destination to not be AdminVM');
}

export interface DispatchContext {
  view: StoreView;
  table: ReadonlyMap<string, MethodDecl>;
  permission: AdminPermission;
  services: DaemonServices;
  debug: boolean;
  /** For stream methods: write one frame now. */
  sendFrame: (frame: Buffer) => void;
  closed: Promise<void>;
}

/** A reference-style repr of a method name in "no such method" (Python's {!r} of a str). */
const pyRepr = (s: string) => (s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);

export async function dispatch(
  req: Omit<Request, 'method'> & { method: Buffer },
  ctx: DispatchContext,
): Promise<Outcome> {
  let streamed = false;
  try {
    const app = ctx.view.current();
    const src = decodeVm(req.src, app);
    const dest = decodeVm(req.dest, app);
    const arg = ascii(req.arg, 'argument');
    const name = ascii(req.method, 'method name');
    const m = ctx.table.get(name);
    if (!m?.handler) throw new ProtocolError(`no such method: ${pyRepr(name)}`);
    ctx.permission.check({ method: name, src, dest, arg });
    checkDeclared(m, arg, req.payload, dest);
    const call: Call = {
      method: name,
      arg,
      payload: req.payload,
      src,
      dest,
      endpoint: m.endpoint,
      app,
      write: (change) => ctx.view.write(change),
      sendEvent: (subject: string, event: string, fields: EventFields = []) => {
        streamed = true;
        ctx.sendFrame(eventFrame(subject, event, fields));
      },
      closed: ctx.closed,
      services: ctx.services,
    };
    const body = await m.handler(call);
    if (streamed) return { streamed: true };
    return { reply: okReply(body ?? undefined) };
  } catch (e) {
    // a library error is answered as the reference does, also after events (it ends a stream)
    if (e instanceof QubesError) {
      const traceback = ctx.debug ? `${e.stack ?? ''}\n` : '';
      const reply = errorReply(wireClassName(e), e.message, traceback);
      // the reference logs calls refused as malformed or forbidden; other errors are the caller's business
      return e instanceof ProtocolError || e instanceof PermissionDenied ? { reply, refused: `${e.name}: ${e.message}` } : { reply };
    }
    if (streamed) return { drop: true, reason: 'error during an event stream', error: e };
    if (e instanceof UndecodableError || e instanceof MalformedRequest) return { drop: true, reason: e.message };
    return { drop: true, reason: 'unhandled exception', error: e };
  }
}
