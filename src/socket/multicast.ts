import { Observable, type Subscriber } from 'rxjs';

/**
 * @internal What rxws asks of rxjs's `Subject` (and, given a first value, of
 * its `BehaviorSubject`), without those classes: a browser bundle of
 * `connect()` then takes in `Observable` alone. The rules are rxjs's:
 * - a value goes to the subscribers there when `next()` is called (one that
 *   subscribes while it is handed out does not get it; one that leaves
 *   does not get it either);
 * - given a first value, each new subscriber gets the latest value first,
 *   and `next()` records a value even after the end;
 * - after `complete()` or `error()`, a new subscriber completes (or errors)
 *   at once, with no value.
 */
export class Multicast<T> {
  /** Replaced, never changed in place: a delivery goes on over the array it started with. */
  #subscribers: Subscriber<T>[] = [];
  /** How a subscriber is ended, once the stream has ended. */
  #end: ((subscriber: Subscriber<T>) => void) | null = null;
  readonly #replays: boolean;
  #value: T;

  constructor(...first: [] | [T]) {
    this.#replays = first.length > 0;
    this.#value = first[0] as T;
  }

  /** The stream (what `asObservable()` gives of a subject). */
  readonly stream: Observable<T> = new Observable<T>((subscriber) => {
    if (this.#end !== null) return this.#end(subscriber);
    this.#subscribers = [...this.#subscribers, subscriber];
    if (this.#replays) subscriber.next(this.#value);
    return () => {
      this.#subscribers = this.#subscribers.filter((s) => s !== subscriber);
    };
  });

  /** The latest value (given a first value). */
  get value(): T {
    return this.#value;
  }

  /** Whether anyone subscribes. */
  get observed(): boolean {
    return this.#subscribers.length > 0;
  }

  /** Whether it has completed or errored. */
  get ended(): boolean {
    return this.#end !== null;
  }

  next(value: T): void {
    if (this.#replays) this.#value = value;
    if (this.#end === null) for (const subscriber of this.#subscribers) subscriber.next(value);
  }

  error(error: unknown): void {
    this.#stop((subscriber) => subscriber.error(error));
  }

  complete(): void {
    this.#stop((subscriber) => subscriber.complete());
  }

  #stop(end: (subscriber: Subscriber<T>) => void): void {
    if (this.#end !== null) return;
    this.#end = end;
    const subscribers = this.#subscribers;
    this.#subscribers = [];
    for (const subscriber of subscribers) end(subscriber);
  }
}
