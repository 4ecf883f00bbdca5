import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { InvalidArgumentError } from '../errors';
import { expectInteger, expectObject, expectOneOf, expectScheduler } from '../validation';

/** Inbound rate limit per socket. */
export interface RateLimitOptions {
  /** Inbound messages per second. @default no limit */
  readonly messages?: number;
  /** Inbound payload bytes per second. @default no limit */
  readonly bytes?: number;
  /**
   * What to do with a peer over the limit: `'close'` it with 1008
   * (`POLICY_VIOLATION`), or `'pause'`: stop reading until the budget has
   * refilled, so the excess is delayed by TCP, never lost.
   * @default 'close'
   */
  readonly policy?: 'close' | 'pause';
  /** Time source (tests pass a `TestScheduler`). @default the server's scheduler, else asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Validated rate limit. */
export interface ResolvedRate {
  readonly messages: number;
  readonly bytes: number;
  readonly policy: 'close' | 'pause';
  readonly scheduler: SchedulerLike;
}

const resolved = new WeakSet<object>();

/** Validates a rate limit once; `undefined` means none. */
export function resolveRate(options: RateLimitOptions | ResolvedRate | undefined, scheduler: SchedulerLike = asyncScheduler): ResolvedRate | null {
  if (options === undefined) return null;
  if (resolved.has(options)) return options as ResolvedRate;
  const o = expectObject('rateLimit', options);
  if (o.messages === undefined && o.bytes === undefined) {
    throw new InvalidArgumentError('Expected `rateLimit` to set `messages` or `bytes` (per second)');
  }
  const rate: ResolvedRate = Object.freeze({
    messages: o.messages === undefined ? Infinity : expectInteger('rateLimit.messages', o.messages, 1),
    bytes: o.bytes === undefined ? Infinity : expectInteger('rateLimit.bytes', o.bytes, 1),
    policy: o.policy === undefined ? 'close' : expectOneOf('rateLimit.policy', o.policy, ['close', 'pause'] as const),
    scheduler: o.scheduler === undefined ? scheduler : expectScheduler('rateLimit.scheduler', o.scheduler),
  });
  resolved.add(rate);
  return rate;
}

/**
 * @internal Token buckets for one socket: each holds one second's worth and
 * refills continuously, so a peer may burst a second's budget and then keeps
 * to the rate. A frame larger than a whole second of bytes needs a full
 * bucket, and empties it.
 */
export class RateBucket {
  readonly #rate: ResolvedRate;
  #messages: number;
  #bytes: number;
  #at: number;

  constructor(rate: ResolvedRate) {
    this.#rate = rate;
    this.#messages = rate.messages;
    this.#bytes = rate.bytes;
    this.#at = rate.scheduler.now();
  }

  /** Takes one frame of `size` bytes if the budget allows: returns 0 when taken, else the ms until it will be. */
  take(size: number): number {
    this.#refill();
    const { messages, bytes } = this.#rate;
    const cost = Math.min(size, bytes);
    const wait = Math.max(this.#messages >= 1 ? 0 : ((1 - this.#messages) / messages) * 1000, this.#bytes >= cost ? 0 : ((cost - this.#bytes) / bytes) * 1000);
    if (wait > 0) return Math.ceil(wait);
    this.#messages -= 1;
    this.#bytes -= cost;
    return 0;
  }

  #refill(): void {
    const now = this.#rate.scheduler.now();
    const seconds = (now - this.#at) / 1000;
    this.#at = now;
    const { messages, bytes } = this.#rate;
    if (messages !== Infinity) this.#messages = Math.min(messages, this.#messages + seconds * messages);
    if (bytes !== Infinity) this.#bytes = Math.min(bytes, this.#bytes + seconds * bytes);
  }
}
