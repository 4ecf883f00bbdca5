import type { SchedulerLike } from 'rxjs';
import { CloseCode, MAX_CLOSE_REASON_BYTES } from './constants';
import { describe, InvalidArgumentError } from './errors';
import { utf8Length } from './utf8';

/** Throws unless `value` is an integer in `[min, max]`; returns it. */
export function expectInteger(name: string, value: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(`Expected \`${name}\` to be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a finite number `>= min` (or `> min` with `exclusive`); returns it. */
export function expectNumber(name: string, value: unknown, min = 0, exclusive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (exclusive && value === min)) {
    throw new InvalidArgumentError(
      `Expected \`${name}\` to be a finite number ${exclusive ? '>' : '>='} ${min}, got ${describe(value)}`,
    );
  }
  return value;
}

/** Throws unless `value` is one of `allowed`; returns it. */
export function expectOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    const list = allowed.map((a) => `"${a}"`).join(', ');
    throw new InvalidArgumentError(`Expected \`${name}\` to be one of ${list}, got ${describe(value)}`);
  }
  return value as T;
}

/** Throws unless `value` is a function. */
export function expectFunction(name: string, value: unknown): void {
  if (typeof value !== 'function') {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a function, got ${describe(value)}`);
  }
}

/** Throws unless `value` is a boolean; returns it. */
export function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  }
  return value;
}

/** Throws unless `value` is a plain object (or undefined); returns it as a record. */
export function expectObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** True for the codes an endpoint may send in a close frame (RFC 6455 §7.4). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= CloseCode.NORMAL && code <= 1014 && code !== 1004 && code !== CloseCode.NO_STATUS && code !== CloseCode.ABNORMAL) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Validates a close code and reason before anything is sent. */
export function validateClose(code: unknown, reason: unknown): void {
  if (typeof code !== 'number' || !Number.isInteger(code) || !isSendableCloseCode(code)) {
    throw new InvalidArgumentError(
      `Expected \`code\` to be a close code an endpoint may send (1000–1003, 1007–1014 or 3000–4999), got ${describe(code)}`,
    );
  }
  if (typeof reason !== 'string') {
    throw new InvalidArgumentError(`Expected \`reason\` to be a string, got ${describe(reason)}`);
  }
  const bytes = utf8Length(reason);
  if (bytes > MAX_CLOSE_REASON_BYTES) {
    throw new InvalidArgumentError(
      `Expected \`reason\` to be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8, got ${bytes} bytes`,
    );
  }
}

/** Throws unless `value` is a `SchedulerLike` (has `now()` and `schedule()`); returns it. */
export function expectScheduler(name: string, value: unknown): SchedulerLike {
  const s = value as Partial<SchedulerLike> | null;
  if (typeof s !== 'object' || s === null || typeof s.now !== 'function' || typeof s.schedule !== 'function') {
    throw new InvalidArgumentError(`Expected \`${name}\` to be a SchedulerLike with now() and schedule(), got ${describe(value)}`);
  }
  return s as SchedulerLike;
}
