import { Observable, config, type BehaviorSubject, type Subscriber } from 'rxjs';
import { Fifo } from './fifo';

/**
 * @internal A hot stream that holds what arrives while nobody subscribes, and
 * hands it to the subscribers that come later, in order, exactly once.
 *
 * It tells its subscribers itself, as a `Subject` would (one that joins while
 * a value is being handed out does not get that value; one that leaves does
 * not get the rest), without a `Subject`'s objects: most streams have one
 * subscriber, in a one-slot array, and none gets a teardown (a subscriber
 * that left is closed, and is let go the next time the list is looked at: the
 * next value, subscriber or end, where on a list of more than eight a new
 * subscriber looks at its end only, and at all of it each time its length
 * reaches a power of two, so that joining is O(1) amortized; until then the
 * closed subscriber, with what its operators' functions hold, stays
 * reachable, where a `Subject` let go at once: a teardown each, even one
 * shared, costs an array per subscriber). A value
 * pushed while a subscriber leaves, by a teardown that runs before Held could
 * have been told, is held for the next one (a `Subject` told the leaving one,
 * and it was lost). The rules:
 * - a value is taken out of the queue before anyone is told of it, so a
 *   subscriber that subscribes, unsubscribes or pushes from inside `next`
 *   can neither receive a value twice nor skip one;
 * - held values go to the subscribers present while they are handed over
 *   (one that joins half-way gets the rest); if the last one leaves half-way
 *   (`take(1)`), the rest waits for the next subscriber;
 * - after `end()`, held values are still handed to the next subscriber, then
 *   it completes (or errors).
 *
 * Subclasses watch the queue through `held()` and `released()`.
 */
export class Held<T> {
  /** The subscribers, made as `[first]` (one slot: most streams have one subscriber); `null` while none. */
  #subs: Subscriber<T>[] | null = null;
  // Made on the first value held: most holds stay empty.
  #queue: Fifo<T> | null = null;
  #delivering = false;
  #ended = false;
  /** Subscribers were told of the end: later ones are told at once. */
  #done = false;
  #failure: unknown;

  /** The stream. */
  readonly stream: Observable<T> = new HeldStream(this);

  /** A new subscriber: it gets what is held. */
  subscribed(subscriber: Subscriber<T>): void {
    if (this.#done) return void this.#tellEnd(subscriber);
    let subs = this.#subs;
    const n = subs?.length ?? 0;
    // On a long list only its end is looked at, and all of it each time its length reaches a power of two:
    // joining costs O(1) amortized, not a look at every other subscriber (a Subject's subscribe was O(1)).
    if (n <= 8 || (n & (n - 1)) === 0) subs = this.#live();
    else while (subs!.length > 8 && subs!.at(-1)!.closed) subs!.pop();
    if (subs === null) this.#subs = [subscriber];
    else subs.push(subscriber);
    // Inside a delivery (a subscriber subscribing from its next), the delivery in progress hands over the rest.
    if (!this.#delivering) this.#flush();
  }

  /** Values waiting for a subscriber. */
  get length(): number {
    return this.#queue?.length ?? 0;
  }

  /** Delivers `value` to the subscribers, or holds it for the next one. Ignored after `end()`. */
  push(value: T): void {
    if (this.#ended) return;
    if (!this.#delivering && this.length === 0 && this.#live() !== null) {
      this.#delivering = true;
      try {
        this.#next(value);
      } finally {
        this.#delivering = false;
      }
      // A subscriber may have pushed more, or ended the stream, while it was told.
      if (this.length > 0 || this.#ended) this.#flush();
      return;
    }
    (this.#queue ??= new Fifo<T>()).push(value);
    this.held(value);
    if (!this.#delivering && this.#live() !== null) this.#flush();
  }

  /** No more values: subscribers complete (or error with `failure`) once they have what is held. */
  end(failure?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = failure;
    if (!this.#delivering) this.#flush();
  }

  /** Forgets a held value (one that no longer matters, e.g. a socket that closed before anyone took it). */
  forget(value: T): void {
    if (this.#queue?.remove(value) === true) this.released(value);
  }

  /** Drops the oldest held value (given to `released()`), if any. */
  protected forgetOldest(): void {
    if (this.length > 0) this.released(this.#queue!.shift());
  }

  /** Called after `value` joined the queue. */
  protected held(_value: T): void {}

  /** Called after `value` left the queue, before anyone is told of it. */
  protected released(_value: T): void {}

  /** The subscribers still there, or `null`; those that left (a subscriber is closed once it has) are let go here. */
  #live(): Subscriber<T>[] | null {
    const subs = this.#subs;
    if (subs !== null && subs.some(isClosed)) {
      const open = subs.filter((subscriber) => !subscriber.closed);
      this.#subs = open.length > 0 ? open : null;
    }
    return this.#subs;
  }

  /** Tells the subscribers present now (not one that joins while they are told). */
  #next(value: T): void {
    if (config.useDeprecatedSynchronousErrorHandling) return asSubject(() => this.#tell(value));
    this.#tell(value);
  }

  #tell(value: T): void {
    // Looked at again: one may have left since (from inside `released()`).
    const subs = this.#live();
    if (subs === null) return;
    if (subs.length === 1) subs[0]!.next(value);
    else for (const subscriber of subs.slice()) subscriber.next(value);
  }

  #tellEnd(subscriber: Subscriber<T>): void {
    if (this.#failure !== undefined) subscriber.error(this.#failure);
    else subscriber.complete();
  }

  /** Hands held values over while anyone subscribes; tells the end once ended and empty. */
  #flush(): void {
    this.#delivering = true;
    try {
      while (this.length > 0 && this.#live() !== null) {
        const value = this.#queue!.shift();
        this.released(value);
        this.#next(value);
      }
    } finally {
      this.#delivering = false;
    }
    if (!this.#ended || this.length > 0 || this.#done) return;
    this.#done = true;
    const subs = this.#subs ?? [];
    this.#subs = null;
    // One that left (closed) is not told, even if it left while the others were (a Subject's rule).
    asSubject(() => {
      for (const subscriber of subs) if (!subscriber.closed) this.#tellEnd(subscriber);
    });
  }
}

/**
 * Runs `tell` (notifications to subscribers) as a `Subject` runs its own:
 * under rxjs's deprecated synchronous error handling, an error a subscriber
 * throws comes out of the outermost such call, once every subscriber was
 * told (else rxjs would drop it). `Observable#subscribe` is the public way
 * into that error context.
 */
function asSubject(tell: () => void): void {
  if (config.useDeprecatedSynchronousErrorHandling) new Observable<never>(() => tell()).subscribe();
  else tell();
}

function isClosed(subscriber: Subscriber<unknown>): boolean {
  return subscriber.closed;
}

/** A held stream: one function for all of them, with no closure per stream (a socket's `messages$`). */
class HeldStream<T> extends Observable<T> {
  readonly #held: Held<T>;

  constructor(held: Held<T>) {
    super(HeldStream.#subscribe);
    this.#held = held;
  }

  static #subscribe(this: Observable<unknown>, subscriber: Subscriber<unknown>): void {
    (this as HeldStream<unknown>).#held.subscribed(subscriber);
  }
}

/**
 * @internal `subject`'s values, but never one that is out of date when it
 * reaches a subscriber: a subscriber told of a change may change the state
 * again inside `next` (say, write and congest the socket once more), and
 * then the first value must not reach the subscribers after it. Each one
 * sees the changes in order and ends on `now()`.
 */
export function current<T>(subject: BehaviorSubject<T>, now: () => T): Observable<T> {
  return new Observable<T>((subscriber) =>
    subject.subscribe({
      next: (value) => value === now() && subscriber.next(value),
      error: (err: unknown) => subscriber.error(err),
      complete: () => subscriber.complete(),
    }),
  );
}

/**
 * @internal `source` until `last()` has a value; from then on, that value
 * alone and completion, for every new subscriber: how a stream that ended
 * ended (`close$`), replayed.
 */
export function endsWith<T>(source: Observable<T>, last: () => T | null): Observable<T> {
  return new Observable<T>((subscriber) => {
    const value = last();
    if (value === null) return source.subscribe(subscriber);
    subscriber.next(value);
    subscriber.complete();
    return undefined;
  });
}
