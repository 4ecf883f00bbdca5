import { asapScheduler, asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { expectInteger, expectObject, expectScheduler } from '../validation';
import { MAX_TIMER_DELAY } from '../constants';

/** Options of {@link coalesce}. */
export interface CoalesceConfig {
  /** Emit as soon as this many values are waiting. @default Infinity (time only) */
  readonly maxCount?: number;
  /** Emit this many ms after the first waiting value; 0 means "at the end of this tick". @default 0 */
  readonly maxDelay?: number;
  /** Where the delay is scheduled. @default asapScheduler when `maxDelay` is 0, else asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/**
 * Gathers values into arrays: one array per burst, emitted when `maxCount`
 * values are waiting or `maxDelay` ms after the first one, whichever comes
 * first. Unlike `bufferTime`, an idle stream costs nothing (no timer runs and
 * no empty arrays are emitted). Pending values are emitted before completion.
 *
 * Use it to send many small messages as one frame (the peer splits them), e.g.
 * a JSON array per tick:
 *
 * @example
 * updates$.pipe(coalesce({ maxCount: 100, maxDelay: 10 }), map((batch) => JSON.stringify(batch))).subscribe(socket);
 */
export function coalesce<T>(config: CoalesceConfig = {}): OperatorFunction<T, T[]> {
  const o = expectObject('config', config);
  const maxCount = o.maxCount === undefined || o.maxCount === Infinity ? Infinity : expectInteger('maxCount', o.maxCount, 1);
  const maxDelay = o.maxDelay === undefined ? 0 : expectInteger('maxDelay', o.maxDelay, 0, MAX_TIMER_DELAY);
  const scheduler =
    o.scheduler === undefined ? (maxDelay === 0 ? asapScheduler : asyncScheduler) : expectScheduler('scheduler', o.scheduler);

  return (source) =>
    new Observable<T[]>((subscriber) => {
      let batch: T[] = [];
      let timer: Subscription | null = null;
      const emit = () => {
        timer?.unsubscribe();
        timer = null;
        const out = batch;
        batch = [];
        subscriber.next(out);
      };
      subscriber.add(
        source.subscribe({
          next: (value) => {
            batch.push(value);
            if (batch.length >= maxCount) emit();
            else if (timer === null) timer = scheduler.schedule(emit, maxDelay);
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            if (batch.length > 0) emit();
            subscriber.complete();
          },
        }),
      );
      return () => timer?.unsubscribe();
    });
}
