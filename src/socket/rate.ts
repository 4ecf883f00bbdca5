import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { InvalidArgumentError } from '../errors';
import type { Inbound } from './types';
import { expectInteger, expectObject, expectOneOf, expectScheduler } from '../validation';

/** Inbound rate limit per socket. */
export interface RateLimitOptions {
  /** Inbound messages per second. @default no limit */
  readonly messages?: number;
  /** Inbound payload bytes per second. @default no limit */
  readonly bytes?: number;
  /**
   * What to do with a peer over the limit: `'close'` it with 1008
   * (`POLICY_VIOLATION`: the frame over the budget and every frame after it
   * are discarded, counted in `stats.discarded`), or `'pause'`: stop reading
   * until the budget has refilled, so the excess is delayed by TCP, never lost.
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

/** @internal What a rate limiter tells its socket. */
export interface RateHost {
  /** A frame within the budget: deliver it. */
  rateDeliver(frame: Inbound): void;
  /** Over the budget with the `close` policy, on a data frame (discarded) or a control frame. */
  rateExceeded(onData: boolean): void;
  /** Frames started or stopped waiting for budget: re-derive whether to read. */
  holdChanged(): void;
  /** Over the budget with the `pause` policy: reading stops until it refills (told before `holdChanged`). */
  rateHeld(): void;
}

/**
 * @internal Token buckets for messages and bytes, each holding one second's
 * worth and refilling continuously, so a peer may burst a second's budget and
 * then keeps to the rate. A frame larger than a whole second of bytes needs a
 * full bucket, and empties it.
 */
export class TokenBucket {
  readonly #rate: { readonly messages: number; readonly bytes: number };
  readonly #scheduler: SchedulerLike;
  #messages: number;
  #bytes: number;
  #at: number;

  /** `messages` and `bytes` per second (`Infinity`: no limit). */
  constructor(messages: number, bytes: number, scheduler: SchedulerLike) {
    this.#rate = { messages, bytes };
    this.#scheduler = scheduler;
    this.#messages = messages;
    this.#bytes = bytes;
    this.#at = scheduler.now();
  }

  /** Takes one message of `size` bytes if the budget allows: returns 0 when taken, else the ms until it will be. */
  take(size: number): number {
    this.#refill();
    const { messages, bytes } = this.#rate;
    const cost = Math.min(size, bytes);
    const wait = Math.max(
      this.#messages >= 1 ? 0 : ((1 - this.#messages) / messages) * 1000,
      this.#bytes >= cost ? 0 : ((cost - this.#bytes) / bytes) * 1000,
    );
    if (wait > 0) return Math.ceil(wait);
    this.#messages -= 1;
    this.#bytes -= cost;
    return 0;
  }

  #refill(): void {
    const now = this.#scheduler.now();
    const seconds = (now - this.#at) / 1000;
    this.#at = now;
    const { messages, bytes } = this.#rate;
    if (messages !== Infinity) this.#messages = Math.min(messages, this.#messages + seconds * messages);
    if (bytes !== Infinity) this.#bytes = Math.min(bytes, this.#bytes + seconds * bytes);
  }
}

/**
 * @internal One socket's inbound rate limit (a {@link TokenBucket}). Over the budget, the
 * `pause` policy holds the frame (and every frame after it, in order) and
 * releases them as the budget refills; `close` tells the host.
 */
export class RateLimiter {
  readonly #rate: ResolvedRate;
  readonly #host: RateHost;
  readonly #bucket: TokenBucket;
  /** Frames waiting for budget, as [frame, size, frame, size, …]. */
  #held: (Inbound | number)[] | null = null;
  #timer: Subscription | null = null;

  constructor(rate: ResolvedRate, host: RateHost) {
    this.#rate = rate;
    this.#host = host;
    this.#bucket = new TokenBucket(rate.messages, rate.bytes, rate.scheduler);
  }

  /** Whether frames wait for budget (the socket should not read). */
  get holding(): boolean {
    return this.#held !== null;
  }

  /** A data frame of `size` bytes from the peer. */
  push(frame: Inbound, size: number): void {
    const held = this.#held;
    if (held !== null) {
      held.push(frame, size);
      return;
    }
    const wait = this.#take(size);
    if (wait === 0) return this.#host.rateDeliver(frame);
    if (this.#rate.policy === 'close') return this.#host.rateExceeded(true);
    this.#held = [frame, size];
    this.#timer = this.#rate.scheduler.schedule(release, wait, this);
    this.#host.rateHeld();
    this.#host.holdChanged();
  }

  /**
   * A control frame (ping, pong) of `size` bytes: it takes from the same
   * budget. Over it, `close` tells the host; `pause` stops reading until the
   * budget has refilled (ws has answered a ping already: there is nothing to
   * hold back but what comes next).
   */
  control(size: number): void {
    if (this.#held !== null) return; // reading is paused already
    const wait = this.#take(size);
    if (wait === 0) return;
    if (this.#rate.policy === 'close') return this.#host.rateExceeded(false);
    this.#held = [];
    this.#timer = this.#rate.scheduler.schedule(release, wait, this);
    this.#host.rateHeld();
    this.#host.holdChanged();
  }

  /** Takes the oldest frame waiting for budget, if any (the limiter holds on until `dispose()` or the budget empties it). */
  shift(): Inbound | undefined {
    const held = this.#held;
    if (held === null || held.length === 0) return undefined;
    const frame = held[0] as Inbound;
    held.splice(0, 2);
    return frame;
  }

  /** Stops: cancels the timer and returns the frames still waiting, in order. */
  dispose(): Inbound[] {
    this.#timer?.unsubscribe();
    this.#timer = null;
    const held = this.#held;
    this.#held = null;
    const frames: Inbound[] = [];
    if (held !== null) for (let i = 0; i < held.length; i += 2) frames.push(held[i] as Inbound);
    return frames;
  }

  /** Delivers the held frames the budget allows; returns the ms until the next may go, or 0 when none is left. */
  release(): number {
    const held = this.#held;
    if (held === null) return 0;
    let wait = 0;
    // One at a time, taken out before it is delivered: the host may call back in (close, dispose).
    while (this.#held === held && held.length > 0 && (wait = this.#take(held[1] as number)) === 0) {
      const frame = held[0] as Inbound;
      held.splice(0, 2);
      this.#host.rateDeliver(frame);
    }
    if (this.#held !== held) return 0; // disposed meanwhile
    if (held.length > 0) return wait;
    this.#held = null;
    this.#timer = null;
    this.#host.holdChanged();
    return 0;
  }

  #take(size: number): number {
    return this.#bucket.take(size);
  }
}

/** The release timer's work (one function for every limiter: no closure per socket). */
function release(this: SchedulerAction<RateLimiter>, limiter?: RateLimiter): void {
  const wait = limiter!.release();
  if (wait > 0) this.schedule(limiter, wait);
}
