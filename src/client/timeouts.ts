import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';

/**
 * @internal The browser client's default time source: `setTimeout` behind
 * rxjs's `SchedulerLike`, so that a bundle of `connect()` need not take in
 * rxjs's scheduler classes (a `TestScheduler` or `asyncScheduler` can still
 * be given as `scheduler`). The client's work runs once and never
 * reschedules itself, so its action is no more than a cancellable timeout.
 */
export const timeouts: SchedulerLike = {
  // Monotonic: a wall clock set back would push every delay out by as much.
  now: () => performance.now(),
  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    const action = {
      closed: false,
      unsubscribe() {
        action.closed = true;
        clearTimeout(id);
      },
    } as unknown as SchedulerAction<T>;
    const id = setTimeout(() => {
      action.closed = true;
      work.call(action, state);
    }, delay);
    return action;
  },
};
