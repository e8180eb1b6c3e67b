// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A request the reference fails on with one of Python's own errors
 * (ValueError of a tuple unpacking, KeyError of an unknown token): not one
 * of its exception classes, so it answers nothing, logs the failure and
 * aborts the connection. Handlers throw this to do the same on purpose;
 * dispatch drops the connection for it and logs one line without a stack,
 * as it is the client's fault, not a bug here.
 */
export class MalformedRequest extends Error {
  override name = 'MalformedRequest';
}
