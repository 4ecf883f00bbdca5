import { asyncScheduler, Observable } from 'rxjs';
import type { OperatorFunction, SchedulerAction, SchedulerLike } from 'rxjs';
import { HeartbeatTimeoutError } from '../errors';
import { MAX_TIMER_DELAY } from '../constants';
import { expectInteger, expectObject, expectScheduler } from '../validation';


/** Options of {@link heartbeat}. */
export interface HeartbeatConfig {
  /** Quiet time, in ms, after which a ping is due; also the spacing of repeated pings. Integer > 0. */
  readonly interval: number;
  /** How long, in ms, the first unanswered ping may wait for a sign of life before the peer is given up. Integer > 0. */
  readonly timeout: number;
  /**
   * Where time comes from (pass a `TestScheduler` to test in virtual time).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * Turns signs of life from the peer (pongs, or any inbound frame: values are
 * ignored) into the pings to send, numbered 1, 2, 3… across the subscription.
 *
 * A ping is due after `interval` ms without a sign of life, then every
 * `interval` ms while the line stays quiet, so a busy socket is never pinged.
 * If no sign of life arrives within `timeout` ms of the *first* unanswered
 * ping, the output errors with {@link HeartbeatTimeoutError}: that is
 * `interval + timeout` ms after the last sign of life, however many pings went
 * out meanwhile (several when `timeout > interval`, one otherwise). A ping
 * that would fall at the very moment of the timeout is not sent.
 * Completes when the source completes, errors when it errors.
 *
 * Throws {@link InvalidArgumentError} when called with a bad `config`.
 *
 * @example
 * socket.messages$
 *   .pipe(heartbeat({ interval: 30_000, timeout: 10_000 }))
 *   .subscribe({ next: (n) => socket.send(`ping ${n}`), error: () => socket.terminate() });
 */
export function heartbeat<T>(config: HeartbeatConfig): OperatorFunction<T, number> {
  const o = expectObject('config', config);
  const interval = expectInteger('interval', o.interval, 1, MAX_TIMER_DELAY);
  const timeout = expectInteger('timeout', o.timeout, 1, MAX_TIMER_DELAY);
  const scheduler = o.scheduler === undefined ? asyncScheduler : expectScheduler('scheduler', o.scheduler);

  return (source) =>
    new Observable<number>((subscriber) => {
      const state = new HeartbeatState(scheduler.now());
      // A sign of life only records the time: one scheduled action checks it
      // when it fires, so a busy socket costs no timer work per frame.
      subscriber.add(
        source.subscribe({
          next: () => state.life(scheduler.now()),
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
      // Scheduled after subscribing the source so that, in virtual time, a
      // sign of life at the same frame as a ping or a deadline counts first.
      subscriber.add(
        scheduler.schedule(function (this: SchedulerAction<void>) {
          const now = scheduler.now();
          const due = state.step(now, interval, timeout);
          if (due === 'timeout') return subscriber.error(state.error(timeout));
          if (due === 'ping') subscriber.next(state.pings);
          // Ask again after the ping: sending it may have brought an answer synchronously.
          this.schedule(undefined, state.next(interval) - now);
        }, interval),
      );
    });
}

/**
 * @internal One peer's heartbeat bookkeeping. The `heartbeat` operator drives
 * it with its own timer; a server drives all its sockets' states from one
 * shared tick (see `HeartbeatMonitor`), with the same rules.
 */
export class HeartbeatState {
  /** Time of the last sign of life (or of the start). */
  lastLife: number;
  /** Pings sent since then. */
  missed = 0;
  /** Pings sent in all. */
  pings = 0;
  #pingedAt = 0;
  #deadline = 0;

  constructor(now: number) {
    this.lastLife = now;
  }

  /** The peer showed life at `now`. */
  life(now: number): void {
    this.lastLife = now;
    this.missed = 0;
  }

  /** Advances to `now`: `'timeout'` when the peer is gone, `'ping'` when a ping is due (and now counted), else `null`. */
  step(now: number, interval: number, timeout: number): 'timeout' | 'ping' | null {
    if (this.missed > 0 && now >= this.#deadline) return 'timeout';
    if (now < (this.missed > 0 ? this.#pingedAt : this.lastLife) + interval) return null;
    if (this.missed++ === 0) this.#deadline = now + timeout;
    this.#pingedAt = now;
    this.pings++;
    return 'ping';
  }

  /** When `step` next has something to do. */
  next(interval: number): number {
    const ping = (this.missed > 0 ? this.#pingedAt : this.lastLife) + interval;
    return this.missed > 0 ? Math.min(ping, this.#deadline) : ping;
  }

  /** The error for a timeout now. */
  error(timeout: number): HeartbeatTimeoutError {
    return new HeartbeatTimeoutError({ lastPongAt: this.lastLife, missed: this.missed, timeout });
  }
}
