import { Observable, type SchedulerAction, type SchedulerLike } from 'rxjs';
import { MAX_TIMER_DELAY } from '../constants';
import { expectInteger, expectScheduler } from '../validation';

/**
 * `read(now)` on subscription, then every `interval` ms on `scheduler`, until
 * `end` emits or completes: then a last `read(now)`, and it completes. The
 * timing of every `metrics$()`. Cold: each subscriber has its own timer, and
 * one that unsubscribes leaves none behind. Arguments are checked when it is
 * called, not when it is subscribed.
 *
 * Built on the scheduler alone (no `timer`, `map`, `takeUntil`): the browser
 * client has a `metrics$()` too, and every operator is bytes in every page.
 */
export function snapshots<T>(read: (now: number) => T, interval: number, scheduler: SchedulerLike, end: Observable<unknown>): Observable<T> {
  expectInteger('interval', interval, 1, MAX_TIMER_DELAY);
  expectScheduler('scheduler', scheduler);
  return new Observable<T>((subscriber) => {
    const last = () => {
      if (subscriber.closed) return;
      subscriber.next(read(scheduler.now()));
      subscriber.complete();
    };
    const ending = end.subscribe({ next: last, complete: last });
    if (subscriber.closed) return ending; // ended already: that was the last
    subscriber.add(ending);
    subscriber.next(read(scheduler.now()));
    subscriber.add(
      scheduler.schedule(function (this: SchedulerAction<undefined>) {
        subscriber.next(read(scheduler.now()));
        if (!subscriber.closed) this.schedule(undefined, interval);
      }, interval),
    );
    return undefined;
  });
}
