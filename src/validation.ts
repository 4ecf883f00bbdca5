import type { SchedulerLike } from 'rxjs';
import { CLOSE_ABNORMAL, CLOSE_NO_STATUS, CLOSE_NORMAL, MAX_CLOSE_REASON_BYTES } from './constants';
import { describe, InvalidArgumentError } from './errors';
import { utf8Length } from './utf8';

/**
 * Throws `InvalidArgumentError` unless `ok`, with the message every bad
 * argument gets: ``Expected `name` to be <what>, got `value` (type)``.
 * Returns `value`.
 */
export function ensure<T>(name: string, value: unknown, ok: boolean, what: string): T {
  if (!ok) throw new InvalidArgumentError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
  return value as T;
}

/** `fallback` when `value` is `undefined` (given as `undefined` or not given: the default either way), else `value`. */
export function orDefault(value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value;
}

/** Throws unless `value` is an integer in `[min, max]`; returns it. */
export function expectInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = value as number;
  return ensure(name, value, Number.isInteger(n) && n >= min && n <= max, `an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`}`);
}

/** Throws unless `value` is a finite number `>= min`; returns it. */
export function expectNumber(name: string, value: unknown, min = 0): number {
  const n = value as number;
  return ensure(name, value, Number.isFinite(n) && n >= min, `a finite number >= ${min}`);
}

/** Throws unless `value` is one of `allowed`; returns it. */
export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  return ensure(name, value, allowed.includes(value as T), `one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
}

/** Throws unless `value` is a function. */
export function expectFunction(name: string, value: unknown): void {
  ensure(name, value, typeof value === 'function', 'a function');
}

/** Throws unless `value` is a boolean; returns it. */
export function expectBoolean(name: string, value: unknown): boolean {
  return ensure(name, value, typeof value === 'boolean', 'a boolean');
}

/** Throws unless `value` is a plain object (or undefined); returns it as a record. */
export function expectObject(name: string, value: unknown): Record<string, unknown> {
  return value === undefined ? {} : ensure(name, value, typeof value === 'object' && value !== null && !Array.isArray(value), 'an object');
}

/** True for the codes an endpoint may send in a close frame (RFC 6455 §7.4). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= CLOSE_NORMAL && code <= 1014 && code !== 1004 && code !== CLOSE_NO_STATUS && code !== CLOSE_ABNORMAL) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Validates a close code and reason before anything is sent. */
export function validateClose(code: unknown, reason: unknown): void {
  ensure('code', code, Number.isInteger(code) && isSendableCloseCode(code as number), 'a close code an endpoint may send (1000–1003, 1007–1014 or 3000–4999)');
  const bytes = utf8Length(ensure('reason', reason, typeof reason === 'string', 'a string'));
  if (bytes > MAX_CLOSE_REASON_BYTES) {
    throw new InvalidArgumentError(`Expected \`reason\` to be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8, got ${bytes} bytes`);
  }
}

/** Throws unless `value` is a `SchedulerLike` (has `now()` and `schedule()`); returns it. */
export function expectScheduler(name: string, value: unknown): SchedulerLike {
  const s = value as Partial<SchedulerLike> | null;
  const ok = typeof s === 'object' && s !== null && typeof s.now === 'function' && typeof s.schedule === 'function';
  return ensure(name, value, ok, 'a SchedulerLike with now() and schedule()');
}
