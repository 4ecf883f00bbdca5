import { map, timer, type Observable, type SchedulerLike } from 'rxjs';
import { MAX_TIMER_DELAY } from '../constants';
import { expectInteger, expectScheduler } from '../validation';

/**
 * `read()` on subscription, then every `interval` ms on `scheduler`: the
 * timing of every `metrics$()`. Cold: each subscriber has its own timer, and
 * one that unsubscribes leaves none behind. Arguments are checked when it is
 * called, not when it is subscribed.
 */
export function snapshots<T>(read: (now: number) => T, interval: number, scheduler: SchedulerLike): Observable<T> {
  expectInteger('interval', interval, 1, MAX_TIMER_DELAY);
  expectScheduler('scheduler', scheduler);
  return timer(0, interval, scheduler).pipe(map(() => read(scheduler.now())));
}
