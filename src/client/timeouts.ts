import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';

/**
 * @internal The browser client's default time source: `setTimeout` behind
 * rxjs's `SchedulerLike`, so that a bundle of `connect()` need not take in
 * rxjs's scheduler classes (a `TestScheduler` or `asyncScheduler` can still
 * be given as `scheduler`).
 */
export const timeouts: SchedulerLike = {
  now: () => Date.now(),
  schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
    return new Timeout(work).schedule(state, delay);
  },
};

class Timeout<T> {
  readonly #work: (this: SchedulerAction<T>, state?: T) => void;
  #id: ReturnType<typeof setTimeout> | undefined;
  closed = false;

  constructor(work: (this: SchedulerAction<T>, state?: T) => void) {
    this.#work = work;
  }

  schedule(state?: T, delay = 0): Subscription {
    if (!this.closed) {
      clearTimeout(this.#id);
      this.#id = setTimeout(() => {
        this.#id = undefined;
        this.#work.call(this as unknown as SchedulerAction<T>, state);
      }, delay);
    }
    return this as unknown as Subscription;
  }

  unsubscribe(): void {
    this.closed = true;
    clearTimeout(this.#id);
  }
}
