import { asyncScheduler, Observable } from 'rxjs';
import type { OperatorFunction, SchedulerAction, SchedulerLike } from 'rxjs';
import { HeartbeatTimeoutError } from '../errors';
import { expectInteger, expectObject, expectScheduler } from '../validation';

/** Longest delay a Node timer honours (2^31 - 1 ms, ~24.8 days); longer ones fire after 1 ms. */
const MAX_TIMER_DELAY = 2_147_483_647;

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
      let lastLife = scheduler.now();
      let missed = 0;
      let seq = 0;
      let pingedAt = 0;
      let deadline = 0;

      // A sign of life only records the time: one scheduled action checks it
      // when it fires, so a busy socket costs no timer work per frame.
      subscriber.add(
        source.subscribe({
          next: () => {
            lastLife = scheduler.now();
            missed = 0;
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );

      // Scheduled after subscribing the source so that, in virtual time, a
      // sign of life at the same frame as a ping or a deadline counts first.
      subscriber.add(
        scheduler.schedule(function (this: SchedulerAction<void>) {
          const now = scheduler.now();
          if (missed > 0 && now >= deadline) {
            subscriber.error(new HeartbeatTimeoutError({ lastPongAt: lastLife, missed, timeout }));
            return;
          }
          if (now >= (missed > 0 ? pingedAt : lastLife) + interval) {
            if (missed++ === 0) deadline = now + timeout;
            pingedAt = now;
            subscriber.next(++seq);
          }
          // Read `missed` again: sending the ping may have brought an answer synchronously.
          const nextPing = (missed > 0 ? pingedAt : lastLife) + interval;
          this.schedule(undefined, (missed > 0 ? Math.min(nextPing, deadline) : nextPing) - now);
        }, interval),
      );
    });
}
