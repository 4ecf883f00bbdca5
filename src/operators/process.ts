import { from, Observable, Subscription, type ObservableInput } from 'rxjs';
import { Pause } from '../constants';
import { InvalidArgumentError } from '../errors';
import type { Inbound } from '../socket/types';
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

/** @internal What `processMessages` needs from a socket. */
export interface Pausable {
  readonly messages$: Observable<Inbound>;
  pause(reason: Pause): void;
  resume(reason: Pause): void;
}

/**
 * @internal Runs `handler` for every inbound frame, at most `concurrency` at a
 * time, and stops reading from the peer while more than `highWaterMark`
 * frames wait (so TCP slows a fast peer instead of memory growing); reads
 * again at `lowWaterMark`. Every frame is handled exactly once, in arrival
 * order. Emits what the handlers emit; completes when the socket closed and
 * every frame was handled; errors if a handler or the socket errors.
 */
export function processMessages<R>(
  socket: Pausable,
  handler: (frame: Inbound, index: number) => ObservableInput<R>,
  options: ProcessOptions = {},
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
    const waiting: Inbound[] = [];
    let active = 0;
    let index = 0;
    let paused = false;
    let ended = false;
    let starting = false;

    const settle = () => {
      if (paused && waiting.length <= low) {
        paused = false;
        socket.resume(Pause.Backlog);
      }
      if (ended && active === 0 && waiting.length === 0) subscriber.complete();
    };
    // A loop, not recursion: a handler that completes synchronously must not grow the stack per frame.
    const start = () => {
      if (starting) return;
      starting = true;
      while (active < concurrency && waiting.length > 0 && !subscriber.closed) {
        const frame = waiting.shift()!;
        active++;
        let work: Observable<R>;
        try {
          // A handler that throws, or returns nothing from() can take, fails this pipeline, not the process.
          work = from(handler(frame, index++));
        } catch (err) {
          starting = false;
          subscriber.error(err);
          return;
        }
        let inner: Subscription | undefined;
        let done = false;
        inner = work.subscribe({
          next: (value) => subscriber.next(value),
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
        else inner = undefined;
      }
      starting = false;
      settle();
    };

    subscriber.add(
      socket.messages$.subscribe({
        next: (frame) => {
          waiting.push(frame);
          if (!paused && waiting.length >= high) {
            paused = true;
            socket.pause(Pause.Backlog);
          }
          start();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          ended = true;
          settle();
        },
      }),
    );
    return () => {
      if (paused) socket.resume(Pause.Backlog);
    };
  });
}
