import { from, Observable, type ObservableInput, type Subscription } from 'rxjs';
import { InvalidArgumentError } from '../errors';
import { expectFunction, expectInteger, expectObject } from '../validation';

/** Options of `socket.process()`. */
export interface ProcessOptions {
  /** Frames handled at the same time. With 1, results come out in frame order. @default 1 */
  readonly concurrency?: number;
  /** Frames waiting for the handler at which the socket stops reading from the peer. @default 64 */
  readonly highWaterMark?: number;
  /** Frames waiting at or below which it reads again. @default highWaterMark / 2 */
  readonly lowWaterMark?: number;
}

/** @internal A brake on the source: `pause()` asks it to stop producing, `resume()` to go on. Each is called in turn. */
export interface Brake {
  pause(): void;
  resume(): void;
}

/**
 * @internal Runs `handler` for every value of `source`, at most `concurrency`
 * at a time, and applies `brake` while more than `highWaterMark` values wait
 * (so TCP slows a fast peer instead of memory growing); releases it at
 * `lowWaterMark`. Every value is handled exactly once, in arrival order, even
 * when the source ends (completes or errors) with values still waiting. Emits
 * what the handlers emit; completes once the source completed and every value
 * was handled; errors when a handler fails (at once) or, after every value
 * was handled, with the source's error.
 */
export function processWith<T, R>(
  source: Observable<T>,
  handler: (value: T, index: number) => ObservableInput<R>,
  options: ProcessOptions | undefined,
  brake: Brake,
): Observable<R> {
  expectFunction('handler', handler);
  const o = expectObject('options', options);
  const concurrency = o.concurrency === undefined ? 1 : expectInteger('concurrency', o.concurrency, 1);
  const high = o.highWaterMark === undefined ? 64 : expectInteger('highWaterMark', o.highWaterMark, 1);
  const low = o.lowWaterMark === undefined ? Math.floor(high / 2) : expectInteger('lowWaterMark', o.lowWaterMark, 0);
  if (low >= high) {
    throw new InvalidArgumentError(`Expected \`lowWaterMark\` to be below \`highWaterMark\` (${high}), got \`${low}\` (number)`);
  }

  return new Observable<R>((subscriber) => {
    const waiting: T[] = [];
    let active = 0;
    let index = 0;
    let braking = false;
    let ended = false;
    let failure: { error: unknown } | null = null;
    let starting = false;

    const settle = () => {
      if (braking && waiting.length <= low) {
        braking = false;
        brake.resume();
      }
      if (!ended || active > 0 || waiting.length > 0) return;
      if (failure !== null) subscriber.error(failure.error);
      else subscriber.complete();
    };
    // A loop, not recursion: a handler that completes synchronously must not grow the stack per value.
    const start = () => {
      if (starting) return;
      starting = true;
      while (active < concurrency && waiting.length > 0 && !subscriber.closed) {
        const value = waiting.shift()!;
        active++;
        let work: Observable<R>;
        try {
          // A handler that throws, or returns nothing from() can take, fails this pipeline, not the process.
          work = from(handler(value, index++));
        } catch (err) {
          starting = false;
          subscriber.error(err);
          return;
        }
        let inner: Subscription | undefined;
        let done = false;
        inner = work.subscribe({
          next: (result) => subscriber.next(result),
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            done = true;
            active--;
            if (inner !== undefined) subscriber.remove(inner);
            start();
            settle();
          },
        });
        if (!done) subscriber.add(inner);
      }
      starting = false;
      settle();
    };

    subscriber.add(
      source.subscribe({
        next: (value) => {
          waiting.push(value);
          if (!braking && waiting.length >= high) {
            braking = true;
            brake.pause();
          }
          start();
        },
        error: (error: unknown) => {
          ended = true;
          failure = { error };
          settle();
        },
        complete: () => {
          ended = true;
          settle();
        },
      }),
    );
    return () => {
      if (braking) {
        braking = false;
        brake.resume();
      }
    };
  });
}
