import type { SchedulerLike } from 'rxjs';
import { ensure, expectFunction, expectInteger, expectNumber, expectObject, expectOneOf, expectScheduler, orDefault } from '../validation';
import { MAX_TIMER_DELAY } from '../constants';

const DEFAULT_INITIAL_DELAY = 500;
const DEFAULT_MAX_DELAY = 30_000;
const DEFAULT_FACTOR = 2;
const JITTERS = ['full', 'none'] as const;

/** The reconnect schedule: exponential backoff, capped, with optional full jitter. */
export interface BackoffConfig {
  /** Ceiling of the first delay, in ms. @default 500 */
  readonly initialDelay?: number;
  /** Largest ceiling any delay may have, in ms; at least `initialDelay`. @default 30000 (or `initialDelay`, if larger) */
  readonly maxDelay?: number;
  /** How much the ceiling grows per attempt; at least 1. @default 2 */
  readonly factor?: number;
  /** Retries before giving up with the last error: an integer >= 0, or `Infinity`. @default Infinity */
  readonly maxAttempts?: number;
  /** `'full'` waits a random time in `[0, ceiling)`; `'none'` waits the ceiling. @default 'full' */
  readonly jitter?: 'full' | 'none';
  /** Source of randomness in `[0, 1)`, injectable for tests. @default Math.random */
  readonly random?: () => number;
  /** Where the delays are scheduled. @default asyncScheduler (in browsers, the client's own timer) */
  readonly scheduler?: SchedulerLike;
}

/** A validated, frozen {@link BackoffConfig} with every default filled in. */
export type ResolvedBackoff = Required<BackoffConfig>;

/**
 * The delay before retry `attempt` (1, 2, 3…), in ms. The ceiling is
 * `min(maxDelay, initialDelay * factor ** (attempt - 1))`; full jitter
 * picks `floor(random() * ceiling)` ("full jitter", AWS Architecture Blog).
 */
export function backoffDelay(attempt: number, config: ResolvedBackoff): number {
  expectInteger('attempt', attempt, 1);
  // `0 * Infinity` is NaN once factor ** n overflows, so a zero delay stays zero.
  const capped =
    config.initialDelay === 0 ? 0 : Math.min(config.maxDelay, config.initialDelay * config.factor ** (attempt - 1));
  return config.jitter === 'full' ? Math.floor(config.random() * capped) : capped;
}

/**
 * Fills in the defaults of `config`, validates it and freezes the result;
 * throws {@link InvalidArgumentError}. `scheduler` is the time source when the
 * config names none (asyncScheduler where rxjs's timers are cheap to take in).
 * `prefix` goes before the option names in error messages (`'reconnect.'`).
 */
export function resolveBackoff(config: BackoffConfig | undefined, scheduler: SchedulerLike, prefix = ''): ResolvedBackoff {
  const c = expectObject('config', config);
  const initialDelay = expectInteger(`${prefix}initialDelay`, orDefault(c.initialDelay, DEFAULT_INITIAL_DELAY), 0, MAX_TIMER_DELAY);
  const maxDelay = expectInteger(`${prefix}maxDelay`, orDefault(c.maxDelay, Math.max(DEFAULT_MAX_DELAY, initialDelay)), initialDelay, MAX_TIMER_DELAY);
  const factor = expectNumber(`${prefix}factor`, orDefault(c.factor, DEFAULT_FACTOR), 1);
  const maxAttempts = orDefault(c.maxAttempts, Infinity) as number;
  ensure(`${prefix}maxAttempts`, maxAttempts, maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 0), 'an integer >= 0 or Infinity');
  const jitter = expectOneOf(`${prefix}jitter`, orDefault(c.jitter, 'full'), JITTERS);
  const random = orDefault(c.random, Math.random) as () => number;
  expectFunction(`${prefix}random`, random);
  const time = expectScheduler(`${prefix}scheduler`, orDefault(c.scheduler, scheduler));
  return Object.freeze({ initialDelay, maxDelay, factor, maxAttempts, jitter, random, scheduler: time });
}
