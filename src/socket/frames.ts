import { PREPARED } from '../constants';
import { InvalidFrameError } from '../errors';
import type { PreparedFrameLike } from '../types';

export { PREPARED } from '../constants';
export type { PreparedFrameLike } from '../types';

/*
 * Checks on outbound frames that run in browsers too: no Node built-in, no Buffer.
 */

/** Whether `frame` was made by `prepare()`. */
export function isPrepared(frame: unknown): frame is PreparedFrameLike {
  return typeof frame === 'object' && frame !== null && (frame as { [PREPARED]?: unknown })[PREPARED] === true;
}

/** Whether `value` is an ArrayBuffer or a SharedArrayBuffer, from any realm (no Node import: this runs in browsers too). */
export function isAnyArrayBuffer(value: unknown): value is ArrayBuffer {
  if (value instanceof ArrayBuffer) return true;
  const tag = Object.prototype.toString.call(value);
  return tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]';
}

/** @internal The error for a value that is not an outbound frame, or `undefined` when it is one. */
export function invalidFrame(frame: unknown): InvalidFrameError | undefined {
  if (typeof frame === 'string' || ArrayBuffer.isView(frame) || isAnyArrayBuffer(frame) || isPrepared(frame)) return undefined;
  const type = frame === null ? 'null' : typeof frame === 'object' ? ((frame as object).constructor?.name ?? 'object') : typeof frame;
  return new InvalidFrameError(`Expected a string or binary data (Buffer, typed array, ArrayBuffer), got ${type}`);
}

